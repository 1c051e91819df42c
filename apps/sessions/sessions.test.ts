import { expect } from "bun:test";
import { workload } from "./testdata/workload.ts";
import {
  appSuite,
  counted,
  expectLate,
  expectWindows,
  finalWindows,
  type AppRun,
  type Generated,
  type WindowValue,
} from "../testing/mod.ts";
import { GAP_MS, OUT_OF_ORDERNESS_MS, type Activity } from "./main.ts";

const APP = new URL("./main.ts", import.meta.url).pathname;
const IDLE_MS = 60_000;


/** Brute force: each user's counted events by time, split where the gap to the previous is >= GAP_MS. */
function expected(events: readonly Generated<Activity>[]) {
  const byUser = new Map<string, number[]>();
  for (const e of counted(events)) {
    const list = byUser.get(e.value.user_id) ?? [];
    list.push(e.time);
    byUser.set(e.value.user_id, list);
  }
  const out = new Map<string, WindowValue<{ first: number; last: number }>>();
  for (const [user, times] of byUser) {
    times.sort((a, b) => a - b);
    let first = times[0]!;
    let last = first;
    let n = 0;
    const flush = () => out.set(`${user}|${first}`, { value: { first, last }, count: n, end: last + GAP_MS });
    for (const t of times) {
      if (t - last >= GAP_MS) {
        flush();
        first = t;
        n = 0;
      }
      last = t;
      n++;
    }
    flush();
  }
  return out;
}

function check(run: AppRun, events: readonly Generated<Activity>[]) {
  const newest = Math.max(...events.map((e) => e.time));
  const got = finalWindows<{ first: number; last: number }>(run.outputs, "sessions.window.");
  const closed = expectWindows(got, expected(events), newest - OUT_OF_ORDERNESS_MS - IDLE_MS);
  expect(closed).toBeGreaterThan(150);
  expectLate(run.outputs, "sessions.late.", events, (e: Activity) => e.event_id);
}

appSuite("user sessions (real nats-server)", {
  app: APP,
  events: workload(41, 12_000),
  what: "30-minute-gap sessions (length and count) equal brute force; late events merge sessions, duplicates once",
  check,
  seed: 17,
});
