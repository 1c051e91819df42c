import { generate, type Generated } from "../../testing/mod.ts";
import { LATENESS_MS, WATERMARK_MS, type Click } from "../main.ts";

const SITES = ["shop", "blog", "docs"];

/** The fixed-seed workload of the tests and the benchmark. */
export function workload(seed: number, n: number): Generated<Click>[] {
  return generate<Click>(
    { seed, n, stepMs: 100, outOfOrdernessMs: WATERMARK_MS, latenessMs: LATENESS_MS, tooLateMs: 8 * 60_000 },
    (i, time, rnd) => {
      const site = SITES[Math.floor(rnd() * SITES.length)]!;
      const value: Click = { event_id: `c${i}`, user_id: `u${Math.floor(rnd() * 400)}`, site, url: `/p/${Math.floor(rnd() * 50)}`, event_time: time };
      return { subject: `clicks.${site}`, value, id: value.event_id };
    },
  );
}
