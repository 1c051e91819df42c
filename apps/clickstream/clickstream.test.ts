import { describe, expect, test } from "bun:test";
import { startNats } from "../../runtime/mod.ts";
import { workload } from "./workload.ts";
import {
  counted,
  expectLate,
  expectWindows,
  finalWindows,
  runInProcess,
  runWithCrashes,
  sameOutputs,
  type AppRun,
  type Generated,
  type WindowValue,
} from "../testkit.ts";
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

describe("clickstream active users (real nats-server)", () => {
  const events = workload(31, 20_000);
  let reference: AppRun | undefined;

  test("hopping 1 min / 5 s distinct users equal brute force; late clicks corrected, duplicates once", async () => {
    await using nats = await startNats();
    reference = await runInProcess(nats, APP, events);
    check(reference, events);
  });

  test("SIGKILLed 4 times mid-stream: identical outputs", async () => {
    await using nats = await startNats();
    const run = await runWithCrashes(nats, APP, events, 4, 13);
    check(run, events);
    expect(sameOutputs(run, reference!)).toBe(true);
  });
});
