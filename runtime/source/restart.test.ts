import { expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { loadApp } from "../contract/mod.ts";
import { msgpackCodec } from "../route/mod.ts";
import { startNats, appNames, ensureAppStreams } from "../nats/mod.ts";
import { startRuntime } from "../mod.ts";
import { kvSnapshotStore } from "../state/mod.ts";
import { client, KILLED_LOCK_TTL, spawnWeir, storedProgress, waitFor } from "../testing/mod.ts";

// Restarts in the middle of a stream spread over very many subjects (one per key). nats-server 2.9
// answers a consumer created with a wildcard filter at a mid-stream start sequence only after
// scanning every subject, and reads through such a filter crawl; the source must not depend on it.

const APP = new URL("../testdata/count-app.ts", import.meta.url).pathname;
const PARTITIONS = 16;

/** Publishes `n` events on core NATS (no per-message ack) to `cnt.<prefix><i>`, and waits until the stream holds them. */
async function publishKeys(nc: NatsConnection, prefix: string, n: number, keys = n): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const stream = appNames("cnt").input;
  const before = (await jsm.streams.info(stream)).state.messages;
  const data = msgpackCodec.encode({ n: 1 });
  for (let i = 0; i < n; i++) {
    nc.publish(`cnt.${prefix}${i % keys}`, data);
    if (i % 5_000 === 4_999) await nc.flush();
  }
  await nc.flush();
  await waitFor(async () => (await jsm.streams.info(stream)).state.messages >= before + n, 60_000, `${n} events in the stream`);
}

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000));

test("a restart over a backlog of 100k new subjects processes it at once (no wildcard-filter scan)", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  await ensureAppStreams(await jetstreamManager(c.nc), await loadApp(APP));
  await publishKeys(c.nc, "a", 100_000);

  let t0 = performance.now();
  const first = await startRuntime({ app: APP, nats: nats.url, workers: 2, logLevel: "warn" });
  await first.drained();
  const firstMs = performance.now() - t0;
  await first.stop();

  // Stopped mid-stream: 100k more events on 100k subjects it has never seen.
  await publishKeys(c.nc, "b", 100_000);
  t0 = performance.now();
  const second = await startRuntime({ app: APP, nats: nats.url, workers: 2, logLevel: "warn" });
  await second.drained();
  const secondMs = performance.now() - t0;
  const m = second.metrics();
  await second.stop();
  process.stderr.write(
    `  first run ${rate(100_000, firstMs)} ev/s; restart over 100k new subjects ${rate(100_000, secondMs)} ev/s (start to drained, ratio ${(firstMs / secondMs).toFixed(2)})\n`,
  );
  expect(m.startSeq).toBe(100_001);
  expect(m.processed).toBe(100_000);
  const store = await kvSnapshotStore(c.nc, { bucket: appNames("cnt").bucket });
  for (const k of ["a0", "a99999", "b0", "b54321", "b99999"]) expect((await store.loadActor("count", k))?.state).toEqual({ count: 1, sum: 1 });
});

test("kill -9 in the middle of a 1M-event run over 100k subjects: the restart reads on at full speed", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  await ensureAppStreams(await jetstreamManager(c.nc), await loadApp(APP));
  const TOTAL = 1_000_000;
  const KEYS = 100_000;
  await publishKeys(c.nc, "k", TOTAL, KEYS);
  const store = await kvSnapshotStore(c.nc, { bucket: appNames("cnt").bucket });
  const progress = () => storedProgress(c.nc, "cnt", PARTITIONS);
  const args = [APP, "--nats", nats.url, "--workers", "2", "--no-progress", "--no-http", ...KILLED_LOCK_TTL];

  const first = spawnWeir(args);
  await first.started;
  let t0 = performance.now();
  await waitFor(async () => (await progress()) >= 300_000, 120_000, "the first run to pass 300k");
  const killedAt = await progress();
  const firstMs = performance.now() - t0;
  first.proc.kill("SIGKILL");
  await first.proc.exited;

  const second = spawnWeir(args);
  await second.started;
  t0 = performance.now();
  await waitFor(
    async () => {
      if (second.proc.exitCode !== null) throw new Error(`the restart exited with ${second.proc.exitCode}: ${second.out.log}`);
      return (await progress()) >= TOTAL;
    },
    120_000,
    "the restart to cover the stream",
  ).catch((err) => {
    second.proc.kill("SIGKILL");
    throw new Error(`${(err as Error).message}\n--- restart log ---\n${second.out.log}`);
  });
  const secondMs = performance.now() - t0;
  second.proc.kill("SIGTERM");
  expect(await second.proc.exited).toBe(0);
  process.stderr.write(
    `  before the kill ${rate(killedAt, firstMs)} ev/s (stored progress ${killedAt}); after the restart ${rate(TOTAL - killedAt, secondMs)} ev/s\n`,
  );
  expect(second.out.log).not.toContain("retrying");
  let counted = 0;
  for await (const { record } of store.listActors()) counted += (record.state as { count: number }).count;
  expect(counted).toBe(TOTAL);
});

test("an input stream shared with subjects no actor reads: they are read and skipped, a restart mid-stream included", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const jsm = await jetstreamManager(c.nc);
  await jsm.streams.add({ name: "shared", subjects: ["cnt.>", "other.>"] });
  const app = await loadApp(APP);
  const streams = await ensureAppStreams(jsm, app);
  expect(streams).toMatchObject({ input: "shared", shared: true });
  expect(streams.filter).toBeUndefined();
  const data = msgpackCodec.encode({ n: 2 });
  const publishBoth = async (from: number) => {
    for (let i = from; i < from + 5_000; i++) {
      await c.js.publish(`cnt.k${i % 50}`, data);
      await c.js.publish(`other.x${i}`, msgpackCodec.encode("not an event of this app"));
    }
  };
  await publishBoth(0);
  const first = await startRuntime({ app: APP, nats: nats.url, workers: 2, logLevel: "warn" });
  await first.drained();
  await first.stop();
  await publishBoth(5_000);
  const second = await startRuntime({ app: APP, nats: nats.url, workers: 2, logLevel: "warn" });
  await second.drained();
  const m = second.metrics();
  await second.stop();
  expect(m).toMatchObject({ startSeq: 10_001, processed: 5_000, dlq: 0 });
  const store = await kvSnapshotStore(c.nc, { bucket: appNames("cnt").bucket });
  for (let k = 0; k < 50; k++) expect((await store.loadActor("count", `k${k}`))?.state).toEqual({ count: 200, sum: 400 });
});
