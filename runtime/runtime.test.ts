import { describe, expect, test } from "bun:test";
import { startNats, appNames } from "./nats/mod.ts";
import { startRuntime } from "./runtime.ts";
import { client, publishAll, readStream, orderWorkload, storedStates } from "./testing/mod.ts";

const ORDER_APP = new URL("./testdata/order-app.ts", import.meta.url).pathname;

describe("runtime end to end", () => {
  test("100k events over 10k keys on 4 workers: exact final state, per-key order, one output per event", async () => {
    await using nats = await startNats();
    await using c = await client(nats.url);
    const rt = await startRuntime({ app: ORDER_APP, nats: nats.url, workers: 4, logLevel: "warn" });

    const { events, expected } = orderWorkload(42, 100_000, 10_000, 100);
    await publishAll(c.js, events);
    await rt.drained();
    const m = rt.metrics();
    await rt.stop();

    expect(m.processed).toBe(100_000);
    expect(m.dlq).toBe(0);
    const states = await storedStates(c.nc, appNames("order").bucket);
    expect(states.size).toBe(expected.size);
    for (const [k, e] of expected) {
      const rec = states.get(`acc/${k}`);
      expect(rec, k).toBeDefined();
      const s = rec!.state as { sum: number; count: number; seqs: number[]; outOfOrder: number };
      expect({ k, sum: s.sum, count: s.count }).toEqual({ k, sum: e.sum, count: e.count });
      expect(s.outOfOrder).toBe(0);
      for (let i = 1; i < s.seqs.length; i++) expect(s.seqs[i]!).toBeGreaterThan(s.seqs[i - 1]!);
    }

    const outputs = await readStream(c.nc, appNames("order").output);
    expect(outputs.length).toBe(100_000);
    expect(new Set(outputs.map((o) => (o.value as { id: number }).id)).size).toBe(100_000);
  });

  test("a broker killed and restarted mid-stream: the source resumes, state and outputs stay exact", async () => {
    await using nats = await startNats();
    const rt = await startRuntime({ app: ORDER_APP, nats: nats.url, workers: 2, logLevel: "error" });
    const { events, expected } = orderWorkload(3, 40_000, 500, 10);
    {
      await using c = await client(nats.url);
      await publishAll(c.js, events.slice(0, 20_000));
    }
    await Bun.sleep(200);
    await nats.kill();
    await Bun.sleep(500);
    await nats.restart();
    await using c = await client(nats.url);
    await publishAll(c.js, events.slice(20_000));
    await rt.drained();
    await rt.stop();
    const states = await storedStates(c.nc, appNames("order").bucket);
    for (const [k, e] of expected) {
      const s = states.get(`acc/${k}`)!.state as { sum: number; count: number };
      expect({ k, sum: s.sum, count: s.count }).toEqual({ k, ...e });
    }
    const outputs = await readStream(c.nc, appNames("order").output);
    expect(outputs.length).toBe(40_000);
    expect(new Set(outputs.map((o) => (o.value as { id: number }).id)).size).toBe(40_000);
  });
});

test("a stop whose final snapshot fails on the broker hands the partitions over without it: the stop succeeds, and the next start resumes from the last snapshot with nothing lost or repeated", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const { events, expected } = orderWorkload(11, 20_000, 300, 10);
  const failing = await startRuntime({
    app: ORDER_APP,
    nats: nats.url,
    workers: 2,
    logLevel: "error",
    workerEntry: new URL("./testdata/broker-fails-at-stop-worker.ts", import.meta.url).href,
  });
  await publishAll(c.js, events.slice(0, 12_000));
  await failing.drained();
  // Events the final snapshot would have covered: the next start applies them again from the last one.
  await publishAll(c.js, events.slice(12_000, 14_000));
  await failing.stop();
  expect(await failing.done).toBeUndefined();

  const next = await startRuntime({ app: ORDER_APP, nats: nats.url, workers: 2, logLevel: "error" });
  await publishAll(c.js, events.slice(14_000));
  await next.drained();
  await next.stop();
  const states = await storedStates(c.nc, appNames("order").bucket);
  for (const [k, e] of expected) {
    const s = states.get(`acc/${k}`)!.state as { sum: number; count: number; outOfOrder: number };
    expect({ k, sum: s.sum, count: s.count, outOfOrder: s.outOfOrder }).toEqual({ k, ...e, outOfOrder: 0 });
  }
  const ids = (await readStream(c.nc, appNames("order").output)).map((o) => (o.value as { id: number }).id);
  expect(ids.length).toBe(20_000);
  expect(new Set(ids).size).toBe(20_000);
});
