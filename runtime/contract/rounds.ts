// What crosses from the decode/route stage to the workers and back: plain data, cheap to post
// between threads.

/**
 * One input event after routing: `[seq, timeMs, subject, actorIndex, key, partition, value,
 * eventTime, watermarkBefore]` (the last two default to `timeMs` and -Infinity).
 * A tuple, not an object, because thousands cross to a worker per `postMessage`.
 */
export type RoutedEvent = [number, number, string, number, string, number, unknown, number?, number?];

/** What the source hands one worker: its events of one fetch, and the stream position it covers. */
export interface Round {
  id: number;
  /** Every message up to this stream sequence has been routed; partitions may advance to it. */
  through: number;
  events: RoutedEvent[];
  /** The watermark after the whole fetch (event-time timers up to it fire at the end of the round). */
  watermark?: number;
  /** Watermark tracker state as of `through`, stored with partition progress. */
  marks?: number[];
}

export interface RoundResult {
  id: number;
  processed: number;
  skipped: number;
  emitted: number;
  dlq: number;
  /** Timers that fired (and ran `onTimer` without failing). */
  fired?: number;
}
