import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadApp } from "../contract/mod.ts";
import { partitionOf } from "../route/mod.ts";
import { client, readStream, startNats } from "../testing/mod.ts";
import { appNames } from "./names.ts";
import { mappingConfig, partitionMappings } from "./mapping.ts";

const COUNT_APP = new URL("../testdata/count-app.ts", import.meta.url).pathname;

test("the generated mapping makes nats-server put each key in the partition partitionOf gives it", async () => {
  const app = await loadApp(COUNT_APP);
  const mappings = partitionMappings(app, 16);
  expect(mappings).toEqual([
    { from: "cnt.*", to: "weir.in.cnt.{{partition(16,1)}}.cnt.{{wildcard(1)}}" },
    { from: "cnt.*.>", to: "weir.in.cnt.{{partition(16,1)}}.cnt.{{wildcard(1)}}.>" },
  ]);
  const dir = mkdtempSync(join(tmpdir(), "weir-mapping-"));
  const conf = join(dir, "server.conf");
  writeFileSync(conf, mappingConfig(mappings));
  await using nats = await startNats({ args: ["-c", conf] });
  await using c = await client(nats.url);
  const prefix = appNames(app.name).inputPrefix;
  await (await jetstreamManager(c.nc)).streams.add({ name: "mapped", subjects: [`${prefix}.>`] });
  // Keys of every kind a producer sends: ASCII, UTF-8, long, and a subject with more tokens.
  const keys = [...Array.from({ length: 500 }, (_, i) => `user-${i}`), "zoë", "名前", "x".repeat(300)];
  for (const k of keys) await c.js.publish(`cnt.${k}`, "{}");
  await c.js.publish("cnt.deep.more.tokens", "{}");
  const stored = await readStream(c.nc, "mapped");
  expect(stored.length).toBe(keys.length + 1);
  const seen = new Set<number>();
  for (const m of stored) {
    const [p, ...rest] = m.subject.slice(prefix.length + 1).split(".");
    const key = rest[1]!;
    expect(Number(p)).toBe(partitionOf(key, 16));
    seen.add(Number(p));
  }
  expect(seen.size).toBe(16);
  expect(stored.at(-1)!.subject).toBe(`${prefix}.${partitionOf("deep", 16)}.cnt.deep.more.tokens`);
});

test("apps the server cannot partition are refused with the actor named", async () => {
  const app = await loadApp(new URL("../testdata/order-app.ts", import.meta.url).pathname);
  expect(() => partitionMappings(app, 8)).toThrow(/actor .* is keyed by a field or a function/);
});
