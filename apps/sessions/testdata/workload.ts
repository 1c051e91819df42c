import { generate, type Generated } from "../../testing/mod.ts";
import { LATENESS_MS, OUT_OF_ORDERNESS_MS, type Activity } from "../main.ts";

const GROUP_MS = 20 * 60_000;
const GROUPS = 12;

/** The fixed-seed workload of the tests and the benchmark. */
export function workload(seed: number, n: number): Generated<Activity>[] {
  return generate<Activity>(
    { seed, n, stepMs: 2_000, outOfOrdernessMs: OUT_OF_ORDERNESS_MS, latenessMs: LATENESS_MS, tooLateMs: 80 * 60_000 },
    (i, time, rnd) => {
      // Users come in bursts: 12 groups of 10 take turns being active for 20 minutes, and within a
      // burst a user sometimes pauses for longer than the gap, splitting the burst.
      const group = Math.floor(time / GROUP_MS) % GROUPS;
      const user = `u${group * 10 + Math.floor(rnd() * 10)}`;
      const value: Activity = { event_id: `a${i}`, user_id: user, action: rnd() < 0.5 ? "view" : "click", event_time: time };
      return { subject: `activity.${user}`, value, id: value.event_id };
    },
  );
}
