// Fixed-seed workloads for the seed apps' tests and benchmarks.
import { rng } from "../../runtime/testing/mod.ts";

export type EventClass = "ontime" | "late" | "toolate" | "dup";

export interface Generated<E> {
  subject: string;
  value: E;
  /** The event's id (duplicates share it). */
  id: string;
  time: number;
  cls: EventClass;
}

export interface GeneratorSpec {
  seed: number;
  /** Events before duplicates are added. */
  n: number;
  /** Event-time step between consecutive in-order events (ms). */
  stepMs: number;
  /** The app's allowed out-of-orderness and lateness (ms). */
  outOfOrdernessMs: number;
  latenessMs: number;
  /** Too-late events are at least this far behind (must exceed ooo + lateness + window + idle). */
  tooLateMs: number;
  start?: number;
  lateRate?: number;
  tooLateRate?: number;
  dupRate?: number;
}

/**
 * Events in arrival order. ~10% arrive out of order but within out-of-orderness + lateness (so they
 * count), ~5% arrive more than `tooLateMs` behind (so they are refused), and ~10% are re-sent copies
 * of a recent event (so dedup must drop them).
 */
export function generate<E>(spec: GeneratorSpec, make: (i: number, time: number, rnd: () => number) => { subject: string; value: E; id: string }): Generated<E>[] {
  const rnd = rng(spec.seed);
  const lateRate = spec.lateRate ?? 0.1;
  const tooLateRate = spec.tooLateRate ?? 0.05;
  const dupRate = spec.dupRate ?? 0.1;
  let clock = spec.start ?? Date.UTC(2026, 0, 1);
  const out: Generated<E>[] = [];
  const window = spec.outOfOrdernessMs + spec.latenessMs;
  for (let i = 0; i < spec.n; i++) {
    clock += spec.stepMs;
    const r = rnd();
    let cls: EventClass = "ontime";
    let time = clock;
    if (r < tooLateRate) {
      cls = "toolate";
      time = clock - spec.tooLateMs - Math.floor(rnd() * spec.tooLateMs);
    } else if (r < tooLateRate + lateRate) {
      cls = "late";
      // Strictly inside the allowed span, with two steps to spare.
      time = clock - spec.stepMs - Math.floor(rnd() * Math.max(1, window - 3 * spec.stepMs));
    }
    out.push({ ...make(i, time, rnd), time, cls });
    if (rnd() < dupRate && out.length > 1) {
      // A re-send of one of the last few events.
      const orig = out[Math.max(0, out.length - 1 - Math.floor(rnd() * 5))]!;
      if (orig.cls !== "dup") out.push({ ...orig, cls: "dup" });
    }
  }
  return out;
}

/** The events that count: first copies of events that are not too late. */
export function counted<E>(events: readonly Generated<E>[]): Generated<E>[] {
  const seen = new Set<string>();
  return events.filter((e) => {
    if (e.cls === "dup" || seen.has(e.id)) return false;
    seen.add(e.id);
    return e.cls !== "toolate";
  });
}

