import { DEFAULTS } from "./config.ts";
import { isWeirError } from "./errors.ts";
import { systemScheduler, type Scheduler } from "./scheduler.ts";

/** An exponential backoff: the first wait, its ceiling. */
export interface Backoff {
  baseMs: number;
  maxMs: number;
}

/**
 * How long to wait before attempt `attempt + 1` after `attempt` failures: `baseMs` doubling up to
 * `maxMs`, with "equal jitter" (half fixed, half random) so that many retrying callers spread out.
 * The one backoff every retry in weir uses.
 *
 * @example
 * backoffMs(1, { baseMs: 100, maxMs: 2_000 }) // between 50 and 100
 */
export function backoffMs(attempt: number, b: Backoff, random: () => number = Math.random): number {
  const ceiling = Math.min(b.maxMs, b.baseMs * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** While the broker is away: 100 ms doubling to 2 s. */
export const BROKER_BACKOFF: Backoff = { baseMs: 100, maxMs: 2_000 };

export interface RetryOptions {
  /** Keep trying for this long (ms) before rethrowing the last error. Default `DEFAULTS.brokerGiveUpMs`. */
  giveUpMs?: number;
  onRetry?: (err: unknown, attempt: number) => void;
  scheduler?: Scheduler;
  backoff?: Backoff;
}

/**
 * Runs `fn` until it succeeds, backing off while the broker is away (disconnects, timeouts,
 * JetStream still recovering after a restart). weir's own terminal errors are rethrown at once:
 * trying again cannot fix them.
 *
 * @example
 * const meta = await retrying(() => store.loadMeta(3));
 */
export async function retrying<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const scheduler = opts.scheduler ?? systemScheduler;
  const giveUpMs = opts.giveUpMs ?? DEFAULTS.brokerGiveUpMs;
  const start = scheduler.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if ((isWeirError(err) && !err.retryable) || scheduler.now() - start > giveUpMs) throw err;
      opts.onRetry?.(err, attempt);
      await scheduler.sleep(backoffMs(attempt, opts.backoff ?? BROKER_BACKOFF));
    }
  }
}
