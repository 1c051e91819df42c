import { expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { PublishError } from "../contract/mod.ts";
import { client, readStream, startNats } from "../testing/mod.ts";
import { memoryPublisher } from "./memory-publisher.ts";
import { publisherContract } from "./publisher.contract.ts";
import { pipelinedPublisher } from "./publisher.ts";

publisherContract("pipelined, real nats-server", async (maxMessageBytes) => {
  const nats = await startNats();
  const c = await client(nats.url);
  const jsm = await jetstreamManager(c.nc);
  await jsm.streams.add({ name: "small", subjects: ["out.small.>"], max_msg_size: maxMessageBytes });
  await jsm.streams.add({ name: "out", subjects: ["out.*"] });
  const publisher = pipelinedPublisher(c.nc);
  return {
    publisher,
    async stored(subject) {
      const stream = subject.startsWith("out.small.") ? "small" : "out";
      const out = [];
      for (let seq = 1; seq <= (await jsm.streams.info(stream)).state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq });
        if (!m || m.subject !== subject) continue;
        const headers: Record<string, string> = {};
        for (const k of m.header?.keys() ?? []) headers[k] = m.header!.get(k);
        out.push({ subject: m.subject, data: m.data, headers });
      }
      return out;
    },
    async [Symbol.asyncDispose]() {
      publisher.close();
      await c[Symbol.asyncDispose]();
      await nats[Symbol.asyncDispose]();
    },
  };
});

publisherContract("memory", async (maxMessageBytes) => {
  const publisher = memoryPublisher({ streams: [{ subjects: ["out.small.>"], maxMessageBytes }, { subjects: ["out.*"] }] });
  return { publisher, stored: async (subject) => publisher.messages(subject), async [Symbol.asyncDispose]() {} };
});

test("pipelined publisher: stores each message id once, refuses subjects without a stream, resends after a broker restart", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const jsm = await jetstreamManager(c.nc);
  await jsm.streams.add({ name: "out", subjects: ["out.>"] });
  const pub = pipelinedPublisher(c.nc, { timeoutMs: 300, retries: 20 });
  const data = new Uint8Array([1, 2, 3]);
  await Promise.all(Array.from({ length: 1000 }, (_, i) => pub.publish(`out.${i % 7}`, data, { msgID: `m${i % 500}` })));
  expect((await jsm.streams.info("out")).state.messages).toBe(500);

  await expect(pub.publish("nowhere.x", data, { msgID: "n1" })).rejects.toThrow(PublishError);
  await expect(pub.publish("nowhere.x", data, { msgID: "n1" })).rejects.toThrow('no JetStream stream stores subject "nowhere.x"');

  // Messages sent while the broker is down are resent until acked, and stored once.
  await nats.kill();
  const during = Array.from({ length: 20 }, (_, i) => pub.publish("out.late", data, { msgID: `late${i}` }));
  await Bun.sleep(500);
  await nats.restart();
  await Promise.all(during);
  const late = (await readStream(c.nc, "out")).filter((m) => m.subject === "out.late");
  expect(late.length).toBe(20);
  pub.close();
});
