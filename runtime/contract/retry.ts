import { WeirError } from "./errors.ts";

export interface RetryOptions {
  /** Keep trying for this long (ms) before rethrowing the last error. Default 60 000. */
  giveUpMs?: number;
  onRetry?: (err: unknown, attempt: number) => void;
}

/**
 * Runs `fn` until it succeeds, backing off (100 ms doubling to 2 s) while the broker is away
 * (disconnects, timeouts, JetStream still recovering after a restart). weir's own terminal errors
 * are rethrown at once: trying again cannot fix them.
 *
 * @example
 * const meta = await retrying(() => store.loadMeta(3));
 */
export async function retrying<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const giveUpMs = opts.giveUpMs ?? 60_000;
  const start = Date.now();
  let delay = 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if ((err instanceof WeirError && !err.retryable) || Date.now() - start > giveUpMs) throw err;
      opts.onRetry?.(err, attempt);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(2000, delay * 2);
    }
  }
}
