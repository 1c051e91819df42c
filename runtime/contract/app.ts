/**
 * The contract between an app module and the runtime: plain values, checked structurally, so an
 * app loaded from disk by the compiled binary works even though it brings its own copy of zod.
 */
import type { z } from "zod";

/** Where an actor's key comes from. */
export type KeySpec<E> =
  /** The n-th token (0-based) of the message subject, e.g. `{ token: 1 }` for `clicks.<user>`. */
  | { readonly token: number }
  /** A top-level field of the decoded event (string or number). */
  | { readonly field: keyof E & string }
  /** Any function of the decoded (not yet validated) event and its subject. */
  | ((event: E, subject: string) => string | number | undefined);

/**
 * Where an event's time comes from: a top-level field holding ms since the epoch (a number) or an
 * ISO-8601 string, or a function of the decoded event and its subject.
 */
export type EventTimeSpec = { readonly field: string } | ((event: any, subject: string) => number | string | undefined);

/** A timer that came due: event-time timers fire when the watermark passes `time`, processing-time ones when the clock does. */
export interface Timer {
  readonly time: number;
  readonly kind: "event" | "processing";
  /** Distinguishes timers of one key at the same time (e.g. the window they close). */
  readonly tag: string;
}

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

export interface Logger {
  debug(msg: string, data?: unknown): void;
  info(msg: string, data?: unknown): void;
  warn(msg: string, data?: unknown): void;
  error(msg: string, data?: unknown): void;
}

/** What a handler can see and do besides its state and event. */
export interface Context {
  /** The actor's key. */
  readonly key: string;
  /** The partition that owns this key (see `partitionOf`). */
  readonly partition: number;
  /** The input message's stream sequence. */
  readonly seq: number;
  /** The input message's time (JetStream timestamp, ms since the epoch). */
  readonly time: number;
  /** The subject the input message was published to. */
  readonly subject: string;
  /**
   * Publishes `value` to `subject`, which must match one of the actor's declared `outputs` and be a
   * subject NATS can take (put a key into it with `subjectToken(key)`; otherwise the event fails).
   * The message id is derived from the partition, the input sequence and this emit's index, so a
   * replay after a crash is dropped by the server as a duplicate.
   */
  emit(subject: string, value: unknown): void;
  readonly log: Logger;
  /** The event's time (from the app's `eventTime`, else the JetStream timestamp); a timer's time in `onTimer`. */
  readonly eventTime: number;
  /**
   * The watermark before this event: event time up to which the stream is taken to be complete.
   * An event with `eventTime <= watermark` is late. `-Infinity` until the first event.
   */
  readonly watermark: number;
  /** Processing time (the injected clock), ms since the epoch. */
  readonly now: number;
  /**
   * Sets an event-time timer for this key: `onTimer` runs once the watermark passes `time`. Setting
   * the same (time, tag) twice keeps one. Timers live in the snapshot and survive crashes.
   */
  timer(time: number, tag?: string): void;
  /** Sets a processing-time timer: `onTimer` runs once the clock passes `time`. */
  processingTimer(time: number, tag?: string): void;
  /** Removes a pending timer (no-op when there is none). */
  cancelTimer(kind: "event" | "processing", time: number, tag?: string): void;
  /**
   * Forgets this key's state once the handler returns: the stored record is deleted and the next
   * event of the key starts from `initial` (state TTL, finished sessions).
   */
  clear(): void;
  /**
   * Upserts a row into one of the app's declared `tables` (SQL sink). Rows are written in one
   * transaction per batch with the input position, so each lands exactly once with its latest value.
   * A row that does not fit its table is this event's error.
   */
  upsert(table: string, row: Row): void;
  /** Sets `key` of one of the app's declared `views` (latest value per key, served over HTTP). */
  view(name: string, key: string, value: unknown): void;
}

/**
 * Applies an event to a key's state and returns the new state (the old one may be changed in
 * place). A throw fails the event: a `TerminalError` goes to the dead-letter subject at once, any
 * other error is tried again per the app's retry policy first (a `RetryableError` may say how long
 * to wait). A failed attempt leaves no trace: the next attempt, and the dead letter, see the state
 * from before the event.
 */
export type Handler<S, E> = (state: S, event: E, ctx: Context) => S | Promise<S>;

/** An actor as a plain value. Build it with {@link defineActor} so its types are inferred. */
export interface ActorDefinition<S = unknown, E = unknown> {
  readonly kind: "weir.actor";
  readonly name: string;
  /** Subjects (wildcards allowed) whose messages this actor handles. */
  readonly input: readonly string[];
  readonly key: KeySpec<E>;
  readonly event: z.ZodType<E>;
  /**
   * The event schema as JSON Schema, registered under `<input-subject>-value` when the app starts
   * (when the runtime runs with a schema registry). `defineActor` derives it from `event`.
   */
  readonly eventJsonSchema?: unknown;
  readonly state: z.ZodType<S>;
  /** The state of a key seen for the first time. */
  readonly initial: (key: string) => S;
  /** Subjects (wildcards allowed) that `ctx.emit` may publish to. */
  readonly outputs: readonly string[];
  readonly handle: Handler<S, E>;
  /**
   * State TTL in event time: a key whose newest event is this far behind the watermark is forgotten
   * (its state deleted, as with `ctx.clear()`).
   */
  readonly ttlMs?: number;
  /** Runs when one of this key's timers comes due (timers fire in time order, before later events of the key). */
  readonly onTimer?: (state: S, timer: Timer, ctx: Context) => S | Promise<S>;
}

export interface SnapshotPolicy {
  /** Snapshot after this many events per worker (default 100 000). */
  everyEvents?: number;
  /** Snapshot at least this often while there is unsaved state, in ms (default 1 000). */
  everyMs?: number;
}

/** An app: the actors that run together, sharing one input stream and one snapshot bucket. */
export interface AppDefinition {
  readonly kind: "weir.app";
  readonly name: string;
  readonly actors: readonly ActorDefinition<any, any>[];
  /** Number of partitions (fixed for the life of the app's state). Default 32. */
  readonly partitions?: number;
  readonly snapshot?: SnapshotPolicy;
  /**
   * Evict actors idle for this long (ms) from memory after a snapshot; they are reloaded from it on
   * their next event. Default 10 minutes; `Infinity` keeps every actor in memory.
   */
  readonly evictAfterMs?: number;
  /** How to read an event's time; default: the JetStream timestamp (ingestion time). */
  readonly eventTime?: EventTimeSpec;
  /** How watermarks follow event time (out-of-orderness, idle partitions). */
  readonly watermark?: WatermarkPolicy;
  /** Tables the actors upsert into (`ctx.upsert`); created in the sink when missing. */
  readonly tables?: Readonly<Record<string, TableSpec>>;
  /** Materialized views the actors set (`ctx.view`), kept in the KV bucket `weir_<app>_views`. */
  readonly views?: readonly string[];
  /** Retries of a failing handler before its event is dead-lettered, and the per-event deadline. */
  readonly retry?: RetryPolicy;
}

export interface RetryPolicy {
  /** Tries in all (first try included). Default 3. */
  attempts?: number;
  /** First backoff (ms); doubles each time, with jitter. Default 50. */
  baseMs?: number;
  /** Longest backoff (ms). Default 2 000. */
  maxMs?: number;
  /** A handler that has not finished after this long (ms) has failed. Default 10 000. */
  deadlineMs?: number;
}

/** How the runtime derives watermarks from event times (see `AppDefinition.watermark`). */
export interface WatermarkPolicy {
  /** Events may arrive this much (ms of event time) behind the newest one seen. Default 0. */
  outOfOrdernessMs?: number;
  /**
   * A partition whose newest event is this far (ms of event time) behind the newest event of the
   * stream stops holding the watermark back. Default 60 000.
   */
  idleMs?: number;
}

/** Column types a table may declare; each sink maps them to its own SQL types. */
export type ColumnType = "text" | "integer" | "real" | "boolean";

/** A table an app writes to: its columns and the key columns rows are upserted on. */
export interface TableSpec {
  readonly columns: Readonly<Record<string, ColumnType>>;
  readonly key: readonly string[];
}

export type Row = Record<string, string | number | boolean | null>;
