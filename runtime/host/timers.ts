import type { LiveActor } from "./actors.ts";

/** A pending timer: `[time, kind, tag]`, kept sorted by time then tag. */
export type TimerEntry = [number, "e" | "p", string];

/** Tag of the internal timer that expires a key's state (`ttlMs`). */
export const TTL_TAG = "\u0000ttl";

/** Inserts a timer in time-then-tag order; the same (time, kind, tag) twice is kept once. */
export function addTimer(list: TimerEntry[], t: TimerEntry): void {
  let i = list.length;
  while (i > 0 && (list[i - 1]![0] > t[0] || (list[i - 1]![0] === t[0] && list[i - 1]![2] > t[2]))) i--;
  const prev = list[i - 1];
  if (prev && prev[0] === t[0] && prev[1] === t[1] && prev[2] === t[2]) return;
  list.splice(i, 0, t);
}

/** The index of the first pending timer of a kind, if due at `upTo`; else -1. */
export function firstDue(list: TimerEntry[] | undefined, kind: "e" | "p", upTo: number): number {
  if (!list) return -1;
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    if (t[0] > upTo) return -1;
    if (t[1] === kind) return i;
  }
  return -1;
}

/** A timer's time as a handler gave it, checked. */
export function timerTime(time: number, what: string): number {
  if (!Number.isFinite(time)) throw new TypeError(`${what}: time must be a finite number of ms, got ${time}`);
  return time;
}

/**
 * Which live actors have pending timers (they are never evicted: their timers must fire) and,
 * per kind, a lower bound of the earliest one, so that rounds with nothing due skip the scan.
 */
export function createTimerIndex() {
  const owners = new Set<LiveActor>();
  const nextDue = { e: Number.POSITIVE_INFINITY, p: Number.POSITIVE_INFINITY };

  const forgetIfNone = (a: LiveActor) => {
    if (a.timers?.length) return;
    a.timers = undefined;
    owners.delete(a);
  };
  const set = (a: LiveActor, t: TimerEntry) => {
    a.timers ??= [];
    addTimer(a.timers, t);
    owners.add(a);
    if (t[0] < nextDue[t[1]]) nextDue[t[1]] = t[0];
  };

  return {
    owners,
    nextDue,
    set,
    forgetIfNone,
    remove(a: LiveActor, t: TimerEntry) {
      if (!a.timers) return;
      a.timers = a.timers.filter((x) => x[0] !== t[0] || x[1] !== t[1] || x[2] !== t[2]);
      forgetIfNone(a);
    },
    /** Moves the key's TTL timer to `at` if that is later than where it is. */
    expireLater(a: LiveActor, at: number) {
      const old = a.timers?.find((t) => t[2] === TTL_TAG);
      if (old && old[0] >= at) return;
      if (old) a.timers!.splice(a.timers!.indexOf(old), 1);
      set(a, [at, "e", TTL_TAG]);
    },
    /** Replaces an actor's timers (loaded or restored ones). */
    adopt(a: LiveActor, timers: readonly TimerEntry[] | undefined) {
      a.timers = undefined;
      owners.delete(a);
      for (const t of timers ?? []) set(a, [...t] as TimerEntry);
    },
    drop(a: LiveActor) {
      owners.delete(a);
      a.timers = undefined;
    },
  };
}

export type TimerIndex = ReturnType<typeof createTimerIndex>;
