import { expect, test } from "bun:test";
import { appNames } from "../nats/mod.ts";
import { startRuntime } from "../runtime.ts";
import { client, publishAll, readStream, rng, startNats, storedStates } from "../testing/mod.ts";

const STUCK_APP = new URL("../testdata/stuck-app.ts", import.meta.url).pathname;

test("a handler stuck in a synchronous loop: its worker is terminated past the deadline, the event dead-lettered (deadline, sync), every other event applied exactly; a stop does not wait for it", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const random = rng(5);
  const events = Array.from({ length: 6_000 }, (_, id) => {
    const k = `k${Math.floor(random() * 40)}`;
    // Two events that never return, on different keys, at different points of the stream.
    const n = id === 1_500 || id === 4_200 ? 666 : 1 + Math.floor(random() * 9);
    return { subject: `st.in.${k}`, value: { id, k, n } };
  });
  const expected = new Map<string, { sum: number; count: number }>();
  for (const { value } of events) {
    if (value.n === 666) continue;
    const e = expected.get(value.k) ?? { sum: 0, count: 0 };
    expected.set(value.k, { sum: e.sum + value.n, count: e.count + 1 });
  }

  const t0 = performance.now();
  const rt = await startRuntime({ app: STUCK_APP, nats: nats.url, workers: 2, logLevel: "error" });
  await publishAll(c.js, events);
  await rt.drained();
  const processedIn = performance.now() - t0;
  const stopStart = performance.now();
  await rt.stop();
  process.stderr.write(`  6000 events with 2 stuck handlers (deadline 1 s): drained in ${Math.round(processedIn)} ms, stopped in ${Math.round(performance.now() - stopStart)} ms\n`);

  // A stop while a handler is stuck: the watchdog ends that worker, the stop completes, and the
  // next run, stuck on the same event once, dead-letters it and goes on.
  const more = [{ subject: "st.in.k1", value: { id: 6_000, k: "k1", n: 666 } }, { subject: "st.in.k1", value: { id: 6_001, k: "k1", n: 5 } }];
  const again = await startRuntime({ app: STUCK_APP, nats: nats.url, workers: 2, logLevel: "error" });
  await publishAll(c.js, more);
  await Bun.sleep(300);
  const stuckStop = performance.now();
  await again.stop();
  process.stderr.write(`  stop while a handler is stuck: ${Math.round(performance.now() - stuckStop)} ms\n`);
  const third = await startRuntime({ app: STUCK_APP, nats: nats.url, workers: 2, logLevel: "error" });
  await third.drained();
  await third.stop();
  const k1 = expected.get("k1")!;
  expected.set("k1", { sum: k1.sum + 5, count: k1.count + 1 });

  const states = await storedStates(c.nc, appNames("stuck").bucket);
  expect(new Map([...states].map(([k, r]) => [k.slice("acc/".length), r.state]))).toEqual(expected);
  const dlq = await readStream(c.nc, appNames("stuck").dlq);
  expect(dlq.length).toBe(3);
  for (const d of dlq) {
    expect(d.headers["Weir-Error"]).toBe("HandlerError");
    expect(d.headers["Weir-Reason"]).toContain("deadline, sync: the handler of acc ran for more than 1000 ms");
    expect((d.value as { n: number }).n).toBe(666);
  }
}, 120_000);
