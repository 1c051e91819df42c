import type { MsgHdrs } from "@nats-io/nats-core";

/** A message read from a stream: what the stages after the source use of it (a `JsMsg` is one too). */
export interface SourceMsg {
  /** Stream sequence. */
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers?: MsgHdrs;
  readonly info: {
    /** When the stream stored it, ns since the epoch. */
    readonly timestampNanos: number;
    /** Messages left in the stream (for this consumer) after this one. */
    readonly pending: number;
  };
}

// What crosses from the decode/route stage to the workers and back: plain data, cheap to post
// between threads.

/**
 * One input event after routing: `[seq, timeMs, subject, actorIndex, key, partition, value,
 * eventTime, watermarkBefore, traceparent]` (eventTime and watermarkBefore default to `timeMs` and
 * -Infinity; traceparent is the event's W3C trace context, when it has one).
 * A tuple, not an object, because thousands cross to a worker per `postMessage`.
 */
export type RoutedEvent = [number, number, string, number, string, number, unknown, number?, number?, string?];

/**
 * What a worker's host applies at once: the events of one fetch, and the position it covers. A
 * round of one partition (`partition` set: read from that partition's own stream) moves only that
 * partition; one without covers all of the host's partitions (one stream for all of them).
 */
export interface Round {
  id: number;
  /** The partition whose stream the round was read from; absent: all of the host's. */
  partition?: number;
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
