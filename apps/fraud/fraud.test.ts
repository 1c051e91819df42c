import { expect } from "bun:test";
import { appSuite, counted, expectLate, generate, type AppRun, type Generated } from "../testing/mod.ts";
import { FAILURES, LATENESS_MS, OUT_OF_ORDERNESS_MS, WINDOW_MS, type Login } from "./main.ts";

const APP = new URL("./main.ts", import.meta.url).pathname;
const IDLE_MS = 60_000;

function workload(seed: number, n: number): Generated<Login>[] {
  return generate<Login>(
    { seed, n, stepMs: 2_000, outOfOrdernessMs: OUT_OF_ORDERNESS_MS, latenessMs: LATENESS_MS, tooLateMs: 6 * 60_000 },
    (i, time, rnd) => {
      const u = Math.floor(rnd() * 10);
      // Each user is attacked now and then: failures are frequent in those 5-minute spells.
      const attacked = (Math.floor(time / (5 * 60_000)) + u) % 7 === 0;
      const value: Login = { event_id: `l${i}`, user_id: `u${u}`, success: rnd() > (attacked ? 0.9 : 0.15), event_time: time };
      return { subject: `logins.u${u}`, value, id: value.event_id };
    },
  );
}

/** Brute force: per user, at each failure time T in order, failures in (T - 2 min, T]; alert at >= 3 unless one was raised less than 2 min before. */
function expectedAlerts(events: readonly Generated<Login>[], until: number): string[] {
  const failures = new Map<string, number[]>();
  for (const e of counted(events)) if (!e.value.success) failures.set(e.value.user_id, [...(failures.get(e.value.user_id) ?? []), e.time]);
  const alerts: string[] = [];
  for (const [user, times] of failures) {
    times.sort((a, b) => a - b);
    let last: number | undefined;
    for (const t of new Set(times)) {
      if (t + LATENESS_MS > until) break;
      const n = times.filter((x) => x > t - WINDOW_MS && x <= t).length;
      if (n < FAILURES || (last !== undefined && t - last < WINDOW_MS)) continue;
      last = t;
      alerts.push(`${user}@${t}:${n}`);
    }
  }
  return alerts.sort();
}

function check(run: AppRun, events: readonly Generated<Login>[]) {
  const newest = Math.max(...events.map((e) => e.time));
  const surelyClosed = newest - OUT_OF_ORDERNESS_MS - IDLE_MS;
  const got = run.outputs
    .filter((m) => m.subject.startsWith("fraud.alert."))
    .map((m) => m.value as { user: string; at: number; failures: number })
    .filter((a) => a.at + LATENESS_MS <= surelyClosed)
    .map((a) => `${a.user}@${a.at}:${a.failures}`)
    .sort();
  const want = expectedAlerts(events, surelyClosed);
  expect(want.length).toBeGreaterThan(20);
  expect(got).toEqual(want);
  expectLate(run.outputs, "fraud.late.", events, (e: Login) => e.event_id, (e) => !e.success);
}

appSuite("fraud rule: 3 failed logins in 2 minutes (real nats-server)", {
  app: APP,
  events: workload(53, 12_000),
  what: "one alert per burst, equal to brute force over sliding windows; late failures count, duplicates once",
  check,
  seed: 19,
});
