import { expect } from "bun:test";
import {
  appSuite,
  counted,
  expectLate,
  expectWindows,
  finalWindows,
  generate,
  type AppRun,
  type Generated,
  type WindowValue,
} from "../testing/mod.ts";
import { LATENESS_MS, OUT_OF_ORDERNESS_MS, THRESHOLD, WINDOW_MS, type Reading } from "./main.ts";

const APP = new URL("./main.ts", import.meta.url).pathname;
const IDLE_MS = 60_000;

function workload(seed: number, n: number): Generated<Reading>[] {
  return generate<Reading>(
    { seed, n, stepMs: 50, outOfOrdernessMs: OUT_OF_ORDERNESS_MS, latenessMs: LATENESS_MS, tooLateMs: 3 * 60_000 },
    (i, time, rnd) => {
      const device = `d${Math.floor(rnd() * 25)}`;
      // Devices run warm in some minutes, so some windows cross the threshold.
      const hot = Math.floor(time / 60_000) % 4 === 0;
      const value: Reading = { event_id: `r${i}`, device_id: device, temperature: Math.round((hot ? 27 : 18) + rnd() * 8) + rnd(), event_time: time };
      return { subject: `iot.readings.${device}`, value, id: value.event_id };
    },
  );
}

/** Brute force: per (device, 10 s window) the mean of the readings that count, summed in arrival order. */
function expected(events: readonly Generated<Reading>[]) {
  const acc = new Map<string, { s: number; n: number; end: number }>();
  for (const e of counted(events)) {
    const start = Math.floor(e.time / WINDOW_MS) * WINDOW_MS;
    const id = `${e.value.device_id}|${start}`;
    const w = acc.get(id) ?? { s: 0, n: 0, end: start + WINDOW_MS };
    w.s += e.value.temperature;
    w.n++;
    acc.set(id, w);
  }
  return new Map<string, WindowValue<number>>([...acc].map(([id, w]) => [id, { value: w.s / w.n, count: w.n, end: w.end }]));
}

function check(run: AppRun, events: readonly Generated<Reading>[]) {
  const want = expected(events);
  const newest = Math.max(...events.map((e) => e.time));
  const surelyClosed = newest - OUT_OF_ORDERNESS_MS - IDLE_MS;
  expect(expectWindows(finalWindows<number>(run.outputs, "iot.avg."), want, surelyClosed)).toBeGreaterThan(1_000);
  expectLate(run.outputs, "iot.late.", events, (e: Reading) => e.event_id);
  // The last alert message of each window says whether its final average is above the threshold.
  const alerts = new Map<string, boolean>();
  for (const m of run.outputs) {
    if (!m.subject.startsWith("iot.alert.")) continue;
    const a = m.value as { device: string; start: number; cleared: boolean };
    alerts.set(`${a.device}|${a.start}`, !a.cleared);
  }
  let hot = 0;
  for (const [id, w] of want) {
    if (w.end - 1 > surelyClosed) continue;
    expect({ id, alert: alerts.get(id) ?? false }).toEqual({ id, alert: w.value > THRESHOLD });
    if (w.value > THRESHOLD) hot++;
  }
  expect(hot).toBeGreaterThan(50);
}

appSuite("IoT device averages and alerts (real nats-server)", {
  app: APP,
  events: workload(23, 20_000),
  what: "10 s tumbling averages and threshold alerts equal brute force; late readings corrected, duplicates once",
  check,
  seed: 9,
});
