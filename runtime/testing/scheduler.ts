import type { Scheduler } from "../contract/mod.ts";

/** A scheduler whose time moves only when told to (RxJS's `TestScheduler` idea), for tests. */
export interface ManualScheduler extends Scheduler {
  /**
   * Moves time forward by `ms`, running every task that comes due on the way, in time order; after
   * each, what it set off (promise continuations, new tasks) runs before time moves on.
   */
  advance(ms: number): Promise<void>;
  /**
   * Runs virtual time as fast as it goes until `work` settles: whenever nothing else is pending,
   * time jumps to the next task (a backoff, a deadline), so retries and timeouts take no wall time.
   */
  until<T>(work: Promise<T>): Promise<T>;
  /** Tasks waiting to come due. */
  readonly pending: number;
}

/** Lets pending promise continuations (and what they start) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * @example
 * const time = manualScheduler(0);
 * const slept = time.sleep(1_000);
 * await time.advance(1_000); // slept resolves; time.now() === 1000
 */
export function manualScheduler(start = 0): ManualScheduler {
  let now = start;
  let seq = 0;
  const tasks: { at: number; seq: number; work: () => void }[] = [];
  const schedule = (work: () => void, delayMs: number) => {
    const task = { at: now + Math.max(0, delayMs), seq: seq++, work };
    tasks.push(task);
    tasks.sort((a, b) => a.at - b.at || a.seq - b.seq);
    return () => {
      const i = tasks.indexOf(task);
      if (i >= 0) tasks.splice(i, 1);
    };
  };
  return {
    now: () => now,
    schedule,
    sleep: (ms) => new Promise<void>((resolve) => void schedule(resolve, ms)),
    async advance(ms) {
      const target = now + ms;
      await settle();
      while (tasks.length > 0 && tasks[0]!.at <= target) {
        const task = tasks.shift()!;
        now = task.at;
        task.work();
        await settle();
      }
      now = target;
      await settle();
    },
    async until(work) {
      let settled = false;
      const done = work.finally(() => {
        settled = true;
      });
      done.catch(() => {});
      while (!settled) {
        await settle();
        if (settled) break;
        const next = tasks[0];
        if (!next) {
          // Waiting on real I/O (a broker, a database): give it a moment of wall time.
          await new Promise((resolve) => setTimeout(resolve, 1));
          continue;
        }
        tasks.shift();
        now = Math.max(now, next.at);
        next.work();
      }
      return work;
    },
    get pending() {
      return tasks.length;
    },
  };
}
