import { expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadApp } from "../contract/mod.ts";
import { startNats, appNames, ensureAppStreams } from "../nats/mod.ts";
import { startRuntime } from "../mod.ts";
import { client, publishAll, storedStates, waitFor } from "../testing/mod.ts";

const SLOW_APP = new URL("../testdata/slow-app.ts", import.meta.url).pathname;
const BACKLOG = 200_000;
const SLOW_EVENTS = 4_000;
const MAX_IN_FLIGHT = 1_024;

test("a slow handler with a 200k backlog: the workers pull only what their credit allows, nothing is lost", async () => {
  process.env.WEIR_TEST_SLOW_UNTIL = String(SLOW_EVENTS);
  process.env.WEIR_TEST_SLOW_MS = "1";
  await using nats = await startNats();
  await using c = await client(nats.url);
  await ensureAppStreams(await jetstreamManager(c.nc), await loadApp(SLOW_APP));
  const keys = 50;
  const lastSeq = await publishAll(
    c.js,
    (function* () {
      for (let id = 0; id < BACKLOG; id++) yield { subject: "s.in", value: { id, k: `k${id % keys}`, n: id % 7 } };
    })(),
  );
  expect(lastSeq).toBe(BACKLOG);

  Bun.gc(true);
  const rssBefore = process.memoryUsage().rss;
  const rt = await startRuntime({ app: SLOW_APP, nats: nats.url, workers: 2, maxInFlight: MAX_IN_FLIGHT, logLevel: "warn" });
  // While the handler is slow (the first SLOW_EVENTS events, ~1 ms each), sample what the runtime holds.
  const jsm = await jetstreamManager(c.nc);
  const app = await loadApp(SLOW_APP);
  /** How many messages the server has handed the workers: each partition stream's furthest consumer. */
  const delivered = async () => {
    let sum = 0;
    for (let p = 0; p < app.partitions!; p++) {
      const consumers = await jsm.consumers.list(appNames("slow").partitionStream(p)).next();
      sum += Math.max(0, ...consumers.map((ci) => ci.delivered.stream_seq));
    }
    return sum;
  };
  let midRss = 0;
  let samples = 0;
  let midway: ReturnType<typeof rt.metrics> | undefined;
  let held = 0;
  await waitFor(
    async () => {
      const m = rt.metrics();
      samples++;
      if (!midway && m.processed >= SLOW_EVENTS / 2) {
        // Read before what is applied: anything applied meanwhile only makes the difference smaller.
        const out = await delivered();
        midway = rt.metrics();
        held = out - midway.processed;
        // What is held, not what is garbage yet: the repartition step copies the backlog at full
        // speed meanwhile, and its garbage would otherwise count.
        Bun.gc(true);
        midRss = process.memoryUsage().rss;
      }
      return m.processed >= SLOW_EVENTS;
    },
    120_000,
    "the slow phase to pass",
  );
  const duringSlow = midway!;
  process.stderr.write(
    `  slow phase: ${samples} samples, midway applied ${duringSlow.processed} of ${BACKLOG} (lag ${duringSlow.lag}), delivered and not applied ${held}, RSS midway +${((midRss - rssBefore) / 2 ** 20).toFixed(1)} MiB\n`,
  );
  // The workers pull only what their credit allows (the backlog waits in the partitions' streams,
  // and memory with it): at most --max-in-flight read and not applied, and rounds applied but not
  // yet reported to the main thread.
  expect(duringSlow.lag).toBeGreaterThan(BACKLOG / 2);
  expect(held).toBeLessThan(2 * MAX_IN_FLIGHT);

  await rt.drained();
  const m = rt.metrics();
  await rt.stop();
  expect(m.processed).toBe(BACKLOG);
  const states = await storedStates(c.nc, appNames("slow").bucket);
  let count = 0;
  let sum = 0;
  for (const r of states.values()) {
    const s = r.state as { sum: number; count: number };
    count += s.count;
    sum += s.sum;
  }
  let expectedSum = 0;
  for (let id = 0; id < BACKLOG; id++) expectedSum += id % 7;
  expect(count).toBe(BACKLOG);
  expect(sum).toBe(expectedSum);
});
