import { describe, expect, test } from "bun:test";
import { startNats } from "./nats-server.ts";
import { startRuntime } from "./runtime.ts";
import { appNames } from "./streams.ts";
import { client, publishAll, readStream, orderWorkload, storedStates } from "./testdata/helpers.ts";

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
});
