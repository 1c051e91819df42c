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
import { LATENESS_MS, OUT_OF_ORDERNESS_MS, WINDOW_MS, type Sale } from "./main.ts";

const APP = new URL("./main.ts", import.meta.url).pathname;
const IDLE_MS = 60_000;

function workload(seed: number, n: number): Generated<Sale>[] {
  return generate<Sale>(
    { seed, n, stepMs: 1_000, outOfOrdernessMs: OUT_OF_ORDERNESS_MS, latenessMs: LATENESS_MS, tooLateMs: 20 * 60_000 },
    (i, time, rnd) => {
      const store = `s${Math.floor(rnd() * 20)}`;
      const value: Sale = {
        event_id: `e${i}`,
        store_id: store,
        price_cents: 50 + Math.floor(rnd() * 5_000),
        quantity: 1 + Math.floor(rnd() * 4),
        event_time: time,
      };
      return { subject: `sales.${store}`, value, id: value.event_id };
    },
  );
}

/** Brute force: revenue per (store, window) over the events that count. */
function expected(events: readonly Generated<Sale>[]) {
  const out = new Map<string, WindowValue<number>>();
  for (const e of counted(events)) {
    const start = Math.floor(e.time / WINDOW_MS) * WINDOW_MS;
    const id = `${e.value.store_id}|${start}`;
    const w = out.get(id) ?? { value: 0, count: 0, end: start + WINDOW_MS };
    w.value += e.value.price_cents * e.value.quantity;
    w.count++;
    out.set(id, w);
  }
  return out;
}

function check(run: AppRun, events: readonly Generated<Sale>[]) {
  const newest = Math.max(...events.map((e) => e.time));
  const closed = expectWindows(finalWindows<number>(run.outputs, "revenue.window."), expected(events), newest - OUT_OF_ORDERNESS_MS - IDLE_MS);
  expect(closed).toBeGreaterThan(600);
  expectLate(run.outputs, "revenue.late.", events, (e: Sale) => e.event_id);
  // Late events within the 5 minutes did correct emitted windows.
  expect(run.outputs.filter((m) => (m.value as { kind?: string }).kind === "correction").length).toBeGreaterThan(10);
}

appSuite("revenue per store (real nats-server)", {
  app: APP,
  events: workload(11, 20_000),
  what: "SIGKILLed 4 times mid-stream: the same final windows, each output once",
  check,
  seed: 5,
});
