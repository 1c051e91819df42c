import { every, systemScheduler } from "../contract/mod.ts";
import type { InvocationWatch } from "../host/mod.ts";

// A handler that never returns blocks its worker's thread, timers and messages included: only
// another thread can see it. The worker keeps five numbers in shared memory; the pool looks at
// them a few times a second.
const COUNT = 0;
const BUSY = 1;
const SEQ = 2;
const PARTITION = 3;
const DEF = 4;

/** Shared memory for one worker's watch. */
export const watchBuffer = () => new SharedArrayBuffer(5 * Float64Array.BYTES_PER_ELEMENT);

/** The worker's side: plain stores per invocation, no clock read. */
export function workerWatch(buffer: SharedArrayBuffer): InvocationWatch {
  const f = new Float64Array(buffer);
  return {
    begin(seq, partition, def) {
      f[SEQ] = seq;
      f[PARTITION] = partition;
      f[DEF] = def;
      f[COUNT]!++;
      f[BUSY] = 1;
    },
    end() {
      f[BUSY] = 0;
    },
  };
}

/** An invocation that has not returned: its worker, and the event it runs (`seq` -1: a timer). */
export interface StuckInvocation {
  worker: number;
  seq: number;
  partition: number;
  def: number;
}

/**
 * The pool's side: calls `onStuck` once for a worker whose invocation has been running, the same
 * one, for longer than `limitMs` (checked every quarter second, so up to that much later).
 *
 * @example
 * const stop = watchWorkers(buffers, 12_000, (s) => terminate(s.worker));
 */
export function watchWorkers(buffers: readonly SharedArrayBuffer[], limitMs: number, onStuck: (s: StuckInvocation) => void): () => void {
  const views = buffers.map((b) => new Float64Array(b));
  const seen: ({ count: number; since: number } | undefined)[] = views.map(() => undefined);
  const reported = new Set<number>();
  return every(systemScheduler, 250, () => {
    const now = systemScheduler.now();
    views.forEach((f, worker) => {
      if (f[BUSY] !== 1 || reported.has(worker)) {
        seen[worker] = undefined;
        return;
      }
      const s = seen[worker];
      if (!s || s.count !== f[COUNT]) seen[worker] = { count: f[COUNT]!, since: now };
      else if (now - s.since > limitMs) {
        reported.add(worker);
        onStuck({ worker, seq: f[SEQ]!, partition: f[PARTITION]!, def: f[DEF]! });
      }
    });
  });
}
