/**
 * A bounded pool of message credits: the source takes credit before it asks JetStream for
 * messages and the credit comes back when workers have finished those messages. When workers fall
 * behind, credit runs out and the source stops pulling.
 */
export interface Credit {
  /** Credits currently taken. */
  readonly inFlight: number;
  readonly limit: number;
  /**
   * Waits until at least `min` credits are free, then takes up to `max`. Resolves 0 once closed.
   */
  acquire(max: number, min?: number): Promise<number>;
  release(n: number): void;
  /** Wakes all waiters with 0. */
  close(): void;
}

/**
 * @example
 * const credit = createCredit(16_384);
 * const n = await credit.acquire(1024); // fetch n messages
 * credit.release(n);                     // when they are done
 */
export function createCredit(limit: number): Credit {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`credit limit must be a positive integer: ${limit}`);
  let inFlight = 0;
  let closed = false;
  let waiter: { max: number; min: number; resolve: (n: number) => void } | undefined;

  const tryGrant = () => {
    if (!waiter) return;
    const free = limit - inFlight;
    if (closed) {
      waiter.resolve(0);
      waiter = undefined;
      return;
    }
    if (free >= waiter.min) {
      const n = Math.min(free, waiter.max);
      inFlight += n;
      const w = waiter;
      waiter = undefined;
      w.resolve(n);
    }
  };

  return {
    get inFlight() {
      return inFlight;
    },
    limit,
    acquire(max, min = 1) {
      if (waiter) return Promise.reject(new Error("bug: credit supports a single waiting source"));
      const lo = Math.max(1, Math.min(min, max, limit));
      return new Promise<number>((resolve) => {
        waiter = { max, min: lo, resolve };
        tryGrant();
      });
    },
    release(n) {
      inFlight -= n;
      if (inFlight < 0) throw new Error(`bug: credit released more than taken (${inFlight})`);
      tryGrant();
    },
    close() {
      closed = true;
      tryGrant();
    },
  };
}
