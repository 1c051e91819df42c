import { expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { retrying } from "../contract/mod.ts";
import { startCluster } from "./cluster.ts";
import { client, readStream } from "./helpers.ts";

test("the 3-node test cluster keeps an R3 stream through a node killed and restarted", async () => {
  await using cluster = await startCluster();
  await using c = await client(cluster.url);
  const jsm = await jetstreamManager(c.nc);
  const info = await jsm.streams.add({ name: "r3", subjects: ["r3.>"], num_replicas: 3 });
  expect(1 + (info.cluster?.replicas?.length ?? 0)).toBe(3);
  await c.js.publish("r3.a", "1");
  await cluster.nodes[0]!.kill();
  // The stream's leader may have been on the killed node: the publish waits out the election.
  await retrying(() => c.js.publish("r3.b", "2"), { giveUpMs: 20_000 });
  await cluster.nodes[0]!.restart();
  await cluster.ready();
  expect((await retrying(() => readStream(c.nc, "r3"), { giveUpMs: 20_000 })).map((m) => m.subject)).toEqual(["r3.a", "r3.b"]);
});
