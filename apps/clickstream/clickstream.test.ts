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
import { SIZE_MS, SLIDE_MS, WATERMARK_MS, type Click } from "./main.ts";

const APP = new URL("./main.ts", import.meta.url).pathname;
const IDLE_MS = 60_000;


/** Brute force: distinct users per (site, 1-minute window starting every 5 s). */
function expected(events: readonly Generated<Click>[]) {
  const acc = new Map<string, { users: Set<string>; n: number; end: number }>();
  for (const e of counted(events)) {
    for (let start = Math.floor(e.time / SLIDE_MS) * SLIDE_MS; start > e.time - SIZE_MS; start -= SLIDE_MS) {
      const id = `${e.value.site}|${start}`;
      const w = acc.get(id) ?? { users: new Set<string>(), n: 0, end: start + SIZE_MS };
      w.users.add(e.value.user_id);
      w.n++;
      acc.set(id, w);
    }
  }
  return new Map<string, WindowValue<number>>([...acc].map(([id, w]) => [id, { value: w.users.size, count: w.n, end: w.end }]));
}

function check(run: AppRun, events: readonly Generated<Click>[]) {
  const newest = Math.max(...events.map((e) => e.time));
  const closed = expectWindows(finalWindows<number>(run.outputs, "active.window."), expected(events), newest - WATERMARK_MS - IDLE_MS);
  expect(closed).toBeGreaterThan(1_000);
  expectLate(run.outputs, "active.late.", events, (e: Click) => e.event_id);
}

appSuite("clickstream active users (real nats-server)", {
  app: APP,
  events: workload(31, 20_000),
  what: "hopping 1 min / 5 s distinct users equal brute force; late clicks corrected, duplicates once",
  check,
  seed: 13,
});
