/**
 * Time as a seam that owns timers (the RxJS `SchedulerLike` idea): everything in the runtime that
 * reads the clock, waits or sets a timer (handler deadlines, retry backoffs, watchdogs, lock
 * renewals) goes through one, so tests can run it in virtual time.
 */
export interface Scheduler {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `work` once `delayMs` have passed; the returned function cancels it. */
  schedule(work: () => void, delayMs: number): () => void;
  /** Resolves once `ms` have passed. */
  sleep(ms: number): Promise<void>;
}

/**
 * The wall clock and the event loop's timers. Scheduled work (watchdogs, renewals, deadlines)
 * does not keep the process alive by itself; a sleep, which someone awaits, does.
 */
export const systemScheduler: Scheduler = {
  now: () => Date.now(),
  schedule(work, delayMs) {
    const t = setTimeout(work, delayMs);
    t.unref?.();
    return () => clearTimeout(t);
  },
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Runs `work` every `periodMs` on a scheduler, the next run timed from the end of the previous
 * one (so runs never overlap, however long one takes); the returned function stops it.
 */
export function every(scheduler: Scheduler, periodMs: number, work: () => void | Promise<void>): () => void {
  let stopped = false;
  let cancel = () => {};
  const tick = async () => {
    try {
      await work();
    } finally {
      if (!stopped) cancel = scheduler.schedule(() => void tick(), periodMs);
    }
  };
  cancel = scheduler.schedule(() => void tick(), periodMs);
  return () => {
    stopped = true;
    cancel();
  };
}
