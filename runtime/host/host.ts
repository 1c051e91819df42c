import type { z } from "zod";
import type { ActorDefinition, AppDefinition, Context, Logger, Timer } from "../contract/app.ts";
import type { Clock } from "../contract/clock.ts";
import { msgpackCodec } from "../contract/codec.ts";
import {
  describeError,
  HandlerError,
  InvalidSubjectError,
  OutputRejectedError,
  OutputTooLargeError,
  RefusedMessageError,
  SnapshotError,
  UndeclaredOutputError,
  ValidationError,
  WeirError,
} from "../contract/errors.ts";
import { DLQ_HEADERS, dlqHeaders, dlqMsgId, type Publisher } from "../output/publisher.ts";
import { SNAPSHOT_VERSION, type ActorWrite, type SnapshotStore } from "../state/snapshot-store.ts";
import { MAX_KEY_BYTES, subjectMatches, subjectProblem } from "../contract/subjects.ts";
import { checkRow, RowRejectedError, RowsRejectedError, type RejectedRow, type Row, type SqlSink } from "../sinks/sink.ts";
import type { ViewStore } from "../state/views.ts";
import { retrying } from "../contract/retry.ts";

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

export interface ActorHostOptions {
  app: AppDefinition;
  /** Partitions this host owns. */
  partitions: readonly number[];
  store: SnapshotStore;
  publisher: Publisher;
  dlqSubject: string;
  clock: Clock;
  log: Logger;
  /** Where `ctx.upsert` rows go (required when the app declares tables). */
  sink?: SqlSink;
  /** Where `ctx.view` values go (required when the app declares views). */
  views?: ViewStore;
  /** Prepended to every output subject (a replay namespace's `<ns>.`). */
  outputPrefix?: string;
  /**
   * Per partition, the position up to which outputs and dead letters were already published (a
   * replay into the live namespace): those of positions at or below it are not sent again.
   */
  fence?: ReadonlyMap<number, number>;
}

/** Hosts the actors of a set of partitions: applies events, publishes effects, snapshots. */
export interface ActorHost {
  /** Loads partition progress from the store. */
  init(): Promise<void>;
  /** Applies a round. Its outputs may still be in flight when this resolves; `snapshot` awaits them. */
  process(round: Round): Promise<RoundResult>;
  /** True when the snapshot policy says it is time (events or elapsed time since the last one). */
  snapshotDue(): boolean;
  /**
   * Waits until every output published so far is stored, then persists dirty states, then partition
   * progress; evicts idle clean actors afterwards. Throws if a publish failed. Resolves with the
   * number of dead letters sent since the last round reported (rows the database refused).
   */
  snapshot(): Promise<number>;
  /** Fires processing-time timers that are due on the host's clock. */
  tick(): Promise<void>;
  /** Actors currently in memory. */
  size(): number;
}

interface PartitionState {
  /** Every event of this partition up to here is reflected in stored state. */
  lastSeq: number;
  /** Every event of this partition up to here has been applied in memory. */
  through: number;
  /** The store holds states for this partition that are not in memory (so a miss needs a load). */
  storedAtStart: boolean;
  /** A meta record exists (written before the first state of the partition is). */
  hasMeta: boolean;
  /** Watermark tracker state as of `lastSeq`. */
  marks?: number[];
}

/** A pending timer: `[time, kind, tag]`, kept sorted by time then tag. */
type TimerEntry = [number, "e" | "p", string];

interface LiveActor {
  def: number;
  key: string;
  partition: number;
  state: unknown;
  /** Sequence of the last event applied to this actor. */
  seq: number;
  dirty: boolean;
  lastActive: number;
  timers?: TimerEntry[];
  /**
   * What a failed attempt restores this actor from: `base` (the encoded state and timers as of an
   * earlier restore), else the stored record when `stored`, else the initial state; then the
   * invocations of `log`, applied since, are run again.
   */
  stored: boolean;
  base?: Uint8Array;
  /** Since the base, in order: invocations applied, and timers that fired (removed from `timers`). */
  log?: (Invocation | TimerEntry)[];
}

/** One run of a handler or `onTimer`: the call (it reads the actor's state when it runs) and what it sees. */
interface Invocation {
  call: (ctx: Context) => unknown;
  /** Stream position the effects belong to: rows and view values at or below the stored offsets are already written. */
  pos: number;
  seq: number;
  time: number;
  subject: string;
  eventTime: number;
  watermark: number;
  /** Processing time the invocation saw (`ctx.now`). */
  now: number;
  /** Output message ids are `<idBase()>.<index>` (built only when there are outputs). */
  idBase: () => string;
}

/** An emitted output: its subject and encoded value. */
type PendingOutput = [string, Uint8Array];

const DEFAULT_EVERY_EVENTS = 100_000;
const DEFAULT_EVERY_MS = 1_000;
const DEFAULT_EVICT_AFTER_MS = 10 * 60_000;
const LOAD_CONCURRENCY = 256;
/** Unacked publishes a host lets run ahead before it waits for them. */
const MAX_PENDING_PUBLISHES = 16_384;
/** Tag of the internal timer that expires a key's state (`ttlMs`). */
const TTL_TAG = "\u0000ttl";
/** Room left for headers (message ids, dead-letter headers) below the server's max payload. */
const HEADER_ROOM_BYTES = 4096;
/** Buffered sink rows that make a round flush before the next snapshot. */
const FLUSH_ROWS = 20_000;
/** Timers one key may fire in a row before the host calls it a loop (a timer that re-arms itself at a due time). */
const MAX_FIRES_IN_A_ROW = 100_000;

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64url");

/** A zod error on one line (it becomes a header): `n: Invalid input: expected number, received string; ...`. */
function issuesOf(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join(".") : "(event)"}: ${i.message}`).join("; ");
}

function timerTime(time: number, what: string): number {
  if (!Number.isFinite(time)) throw new TypeError(`${what}: time must be a finite number of ms, got ${time}`);
  return time;
}

/**
 * A handler's failure as the error it is dead-lettered with. weir's own errors (undeclared output,
 * a row that does not fit its table) keep their class: they are terminal, retrying cannot fix them.
 */
function asFailure(err: unknown, actor: string, handler: boolean): WeirError {
  if (err instanceof WeirError) return err;
  return new HandlerError(`${handler ? "handler" : "onTimer"} of ${actor} failed: ${describeError(err)}`, { cause: err });
}

function addTimer(list: TimerEntry[], t: TimerEntry): void {
  let i = list.length;
  while (i > 0 && (list[i - 1]![0] > t[0] || (list[i - 1]![0] === t[0] && list[i - 1]![2] > t[2]))) i--;
  const prev = list[i - 1];
  if (prev && prev[0] === t[0] && prev[1] === t[1] && prev[2] === t[2]) return;
  list.splice(i, 0, t);
}

/** The first pending timer of a kind, if due at `upTo`. */
function firstDue(list: TimerEntry[] | undefined, kind: "e" | "p", upTo: number): number {
  if (!list) return -1;
  for (let i = 0; i < list.length; i++) {
    const t = list[i]!;
    if (t[0] > upTo) return -1;
    if (t[1] === kind) return i;
  }
  return -1;
}

/**
 * Builds the host for one worker's partitions.
 *
 * @example
 * const host = createActorHost({ app, partitions: [0, 2], store, publisher, dlqSubject, clock, log });
 * await host.init();
 * await host.process(round);
 */
export function createActorHost(opts: ActorHostOptions): ActorHost {
  const { app, store, publisher, clock, log } = opts;
  const defs = app.actors as readonly ActorDefinition<unknown, unknown>[];
  // Per actor: subjects already found publishable and declared (emits repeat a few subject shapes).
  const declared = defs.map(() => new Set<string>());
  /** Throws the handler's error for a subject it may not emit to: not a valid subject, or not declared. */
  const checkEmit = (def: number, subject: string): void => {
    const known = declared[def]!;
    if (known.has(subject)) return;
    const d = defs[def]!;
    const bad = subjectProblem(subject);
    if (bad) {
      throw new InvalidSubjectError(
        `actor ${d.name} emitted to ${JSON.stringify(subject.slice(0, 200))}${subject.length > 200 ? "…" : ""}, which is not a valid subject: ${bad} (put keys into subjects with subjectToken(key))`,
      );
    }
    if (!d.outputs.some((o) => subjectMatches(o, subject))) {
      throw new UndeclaredOutputError(`actor ${d.name} emitted to "${subject}", which is not among its outputs (${d.outputs.join(", ") || "none"})`);
    }
    if (known.size >= 10_000) known.clear();
    known.add(subject);
  };
  const attempts = app.retry?.attempts ?? 3;
  const baseBackoffMs = app.retry?.baseMs ?? 50;
  const maxBackoffMs = app.retry?.maxMs ?? 2_000;
  const deadlineMs = app.retry?.deadlineMs ?? 10_000;
  const everyEvents = app.snapshot?.everyEvents ?? DEFAULT_EVERY_EVENTS;
  const everyMs = app.snapshot?.everyMs ?? DEFAULT_EVERY_MS;
  const evictAfterMs = app.evictAfterMs ?? DEFAULT_EVICT_AFTER_MS;
  const parts = new Map<number, PartitionState>();
  const live = new Map<string, LiveActor>();
  /** Keys evicted in this run from partitions that had no stored state at start. */
  const evicted = new Set<string>();
  let anyStoredAtStart = false;
  /** Live actors with pending timers (never evicted: their timers must fire). */
  const withTimers = new Set<LiveActor>();
  /** Actors whose state was cleared: their stored records are deleted at the next snapshot. */
  const cleared = new Map<string, { actor: string; key: string }>();
  /** Effects for the sink and the views since the last flush, and the offsets they have reached. */
  const pendingRows = new Map<string, Row[]>();
  /**
   * Where pending rows came from, one entry per invocation that upserted (its actor, input sequence,
   * subject, position, and its rows): read only when the database refuses rows.
   */
  const rowOrigins: [LiveActor, number, string, number, [string, Row][]][] = [];
  let pendingRowCount = 0;
  /** Dead letters sent outside a round (rows the database refused), reported with the next one. */
  let unreportedDlq = 0;
  const takeUnreported = () => {
    const n = unreportedDlq;
    unreportedDlq = 0;
    return n;
  };
  const pendingViews = new Map<string, [string, string, unknown]>();
  const sinkOffsets = new Map<number, number>();
  const viewOffsets = new Map<number, number>();
  /** Watermark and tracker state after the last round. */
  let watermark = Number.NEGATIVE_INFINITY;
  let marks: number[] | undefined;
  let eventsSinceSnapshot = 0;
  let lastSnapshotAt = clock.now();

  const idOf = (def: number, key: string) => `${def}\u0000${key}`;

  /** A stored state, checked against the actor's state schema. */
  const parseState = (d: ActorDefinition<unknown, unknown>, key: string, state: unknown): unknown => {
    const parsed = d.state.safeParse(state);
    if (!parsed.success) {
      throw new SnapshotError(`stored state of actor ${d.name}/${key} no longer matches its state schema: ${issuesOf(parsed.error)}`);
    }
    return parsed.data;
  };

  const loadActor = async (def: number, key: string, partition: number): Promise<LiveActor> => {
    const d = defs[def]!;
    const rec = await store.loadActor(d.name, key);
    if (!rec) return fresh(def, key, partition);
    const a: LiveActor = { def, key, partition, state: parseState(d, key, rec.state), seq: rec.seq, dirty: false, lastActive: clock.now(), stored: true };
    if (rec.timers?.length) {
      a.timers = rec.timers.map((t) => [...t] as TimerEntry);
      withTimers.add(a);
    }
    return a;
  };

  const fresh = (def: number, key: string, partition: number): LiveActor => ({
    def,
    key,
    partition,
    state: defs[def]!.initial(key),
    seq: 0,
    dirty: false,
    lastActive: clock.now(),
    stored: false,
  });

  /** Loads, concurrently, the actors of a round that are not in memory but may be in the store. */
  const prefetch = async (events: RoutedEvent[]) => {
    // A fresh run whose partitions had nothing stored, and that has evicted nothing, has nothing to load.
    if (!anyStoredAtStart && evicted.size === 0) return;
    const wanted = new Map<string, [number, string, number]>();
    for (const ev of events) {
      const id = idOf(ev[3], ev[4]);
      if (live.has(id) || wanted.has(id) || cleared.has(id)) continue;
      const p = parts.get(ev[5])!;
      if (p.storedAtStart || evicted.has(id)) wanted.set(id, [ev[3], ev[4], ev[5]]);
    }
    const list = [...wanted];
    for (let i = 0; i < list.length; i += LOAD_CONCURRENCY) {
      const loaded = await Promise.all(list.slice(i, i + LOAD_CONCURRENCY).map(([, [d, k, p]]) => loadActor(d, k, p)));
      for (const a of loaded) {
        live.set(idOf(a.def, a.key), a);
        evicted.delete(idOf(a.def, a.key));
      }
    }
  };

  /** Publishes not yet acked (outputs and dead letters), and the first failure among them. */
  let inflight: Promise<unknown>[] = [];
  let publishFailure: unknown;
  const track = (p: Promise<unknown>) => {
    inflight.push(
      p.catch((err) => {
        publishFailure ??= err;
      }),
    );
  };
  /** An output the broker refuses for its content is a dead letter of its own; any other failure stops the app. */
  const trackOutput = (p: Promise<void>, a: LiveActor, at: Invocation, subject: string, data: Uint8Array, msgID: string) => {
    inflight.push(
      p.catch((err) => {
        if (!(err instanceof RefusedMessageError)) {
          publishFailure ??= err;
          return;
        }
        const actor = defs[a.def]!.name;
        const e = new OutputRejectedError(`the output of ${actor}/${a.key} to ${subject} was refused: ${err.message}`);
        const headers = {
          ...dlqHeaders(e, { app: app.name, actor, subject: at.subject, seq: at.seq, key: a.key, contentType: msgpackCodec.contentType }),
          [DLQ_HEADERS.output]: subject,
        };
        unreportedDlq++;
        track(publisher.publish(opts.dlqSubject, msgpackCodec.encode({ subject, value: msgpackCodec.decode(data) }), { msgID: `${msgID}.dlq`, headers }));
      }),
    );
  };
  const settle = async () => {
    // Dead letters of refused outputs join while the earlier publishes are awaited.
    while (inflight.length > 0) {
      const waiting = inflight;
      inflight = [];
      await Promise.all(waiting);
    }
    if (publishFailure !== undefined) throw publishFailure;
  };

  /** Drops clean actors idle past `evictAfterMs`; their stored state is current. */
  const evictIdle = () => {
    const cutoff = clock.now() - evictAfterMs;
    let n = 0;
    for (const [id, a] of live) {
      if (a.dirty || a.lastActive > cutoff || a.timers?.length) continue;
      live.delete(id);
      if (!parts.get(a.partition)!.storedAtStart) evicted.add(id);
      n++;
    }
    if (n > 0) log.debug(`evicted ${n} idle actors`);
  };

  const outputPrefix = opts.outputPrefix ?? "";
  /** True when messages of this position were published before (replays into live only). */
  const fenced = (partition: number, pos: number) => opts.fence !== undefined && pos <= (opts.fence.get(partition) ?? 0);

  const deadLetter = (ev: RoutedEvent, err: WeirError) => {
    if (fenced(ev[5], ev[0])) return;
    const d = defs[ev[3]]!;
    const headers = dlqHeaders(err, {
      app: app.name,
      actor: d.name,
      subject: ev[2],
      seq: ev[0],
      key: ev[4],
      contentType: msgpackCodec.contentType,
    });
    track(
      publisher.publish(opts.dlqSubject, msgpackCodec.encode(ev[6]), {
        msgID: dlqMsgId(app.name, d.name, ev[0]),
        headers,
      }),
    );
  };

  /** Earliest pending timer of each kind over `withTimers` (lower bounds; exact after a scan), so rounds skip the scan. */
  const nextDue = { e: Number.POSITIVE_INFINITY, p: Number.POSITIVE_INFINITY };

  const setTimer = (a: LiveActor, t: TimerEntry) => {
    a.timers ??= [];
    addTimer(a.timers, t);
    withTimers.add(a);
    if (t[0] < nextDue[t[1]]) nextDue[t[1]] = t[0];
  };

  const removeTimer = (a: LiveActor, t: TimerEntry) => {
    if (!a.timers) return;
    a.timers = a.timers.filter((x) => x[0] !== t[0] || x[1] !== t[1] || x[2] !== t[2]);
    forgetIfNoTimers(a);
  };

  /** Moves the key's TTL timer to `at` if that is later than where it is. */
  const expireLater = (a: LiveActor, at: number) => {
    const old = a.timers?.find((t) => t[2] === TTL_TAG);
    if (old && old[0] >= at) return;
    if (old) a.timers!.splice(a.timers!.indexOf(old), 1);
    setTimer(a, [at, "e", TTL_TAG]);
  };

  const forgetIfNoTimers = (a: LiveActor) => {
    if (a.timers?.length) return;
    a.timers = undefined;
    withTimers.delete(a);
  };

  const clearActor = (a: LiveActor) => {
    const id = idOf(a.def, a.key);
    live.delete(id);
    withTimers.delete(a);
    a.timers = undefined;
    cleared.set(id, { actor: defs[a.def]!.name, key: a.key });
  };

  type Outcome = { emitted: number } | WeirError;

  /**
   * Runs a handler or `onTimer` for one actor with a fresh context. On success the new state, timer
   * changes and outputs take effect; on failure none do and the error is returned.
   */
  const invoke = (a: LiveActor, at: Invocation, replaying = false): Outcome | Promise<Outcome> => {
    const def = defs[a.def]!;
    const outputs: PendingOutput[] = [];
    // Allocated only when a handler uses them: most events set no timer, row or view.
    let timerOps: [boolean, TimerEntry][] | undefined;
    let rowOps: [string, Row][] | undefined;
    let viewOps: [string, string, unknown][] | undefined;
    let clearIt = false;
    const ctx: Context = {
      key: a.key,
      partition: a.partition,
      seq: at.seq,
      time: at.time,
      subject: at.subject,
      log,
      eventTime: at.eventTime,
      watermark: at.watermark,
      now: at.now,
      emit(to, v) {
        checkEmit(a.def, to);
        const data = msgpackCodec.encode(v);
        if (data.length > publisher.maxPayload - HEADER_ROOM_BYTES) {
          throw new OutputTooLargeError(`actor ${def.name} emitted ${data.length} bytes to "${to}"; the server takes at most ${publisher.maxPayload - HEADER_ROOM_BYTES}`);
        }
        outputs.push([to, data]);
      },
      timer: (time, tag = "") => void (timerOps ??= []).push([true, [timerTime(time, "ctx.timer"), "e", tag]]),
      processingTimer: (time, tag = "") => void (timerOps ??= []).push([true, [timerTime(time, "ctx.processingTimer"), "p", tag]]),
      cancelTimer: (kind, time, tag = "") => void (timerOps ??= []).push([false, [time, kind === "event" ? "e" : "p", tag]]),
      clear: () => {
        clearIt = true;
      },
      upsert(table, row) {
        try {
          checkRow(table, app.tables?.[table], row);
        } catch (err) {
          throw new ValidationError(`actor ${def.name}: ${(err as Error).message}`);
        }
        (rowOps ??= []).push([table, row]);
      },
      view(name, key, v) {
        if (!app.views?.includes(name)) throw new ValidationError(`actor ${def.name}: view "${name}" is not among the app's views (${app.views?.join(", ") || "none"})`);
        if (typeof key !== "string" || key.length === 0) throw new ValidationError(`actor ${def.name}: view ${name} needs a non-empty string key`);
        if (key.length * 3 > MAX_KEY_BYTES && Buffer.byteLength(key) > MAX_KEY_BYTES) {
          throw new ValidationError(`actor ${def.name}: view ${name} key is ${Buffer.byteLength(key)} bytes long; keys are at most ${MAX_KEY_BYTES} bytes`);
        }
        (viewOps ??= []).push([name, key, v]);
      },
    };
    const failed = (err: unknown) => asFailure(err, def.name, at.subject !== "");
    const apply = (next: unknown): Outcome => {
      a.state = next;
      a.dirty = true;
      for (const [add, t] of timerOps ?? []) {
        if (add) setTimer(a, t);
        else removeTimer(a, t);
      }
      // Run again to restore the actor: its effects are out already.
      if (replaying) return { emitted: 0 };
      (a.log ??= []).push(at);
      if (clearIt) clearActor(a);
      if (rowOps && at.pos > (sinkOffsets.get(a.partition) ?? 0)) {
        for (const [table, row] of rowOps) {
          let list = pendingRows.get(table);
          if (!list) pendingRows.set(table, (list = []));
          list.push(row);
        }
        pendingRowCount += rowOps.length;
        rowOrigins.push([a, at.seq, at.subject, at.pos, rowOps]);
      }
      if (viewOps && at.pos > (viewOffsets.get(a.partition) ?? 0)) {
        for (const [name, key, v] of viewOps) pendingViews.set(`${name}\u0000${key}`, [name, key, v]);
      }
      if (outputs.length > 0 && !fenced(a.partition, at.pos)) {
        const base = at.idBase();
        for (let i = 0; i < outputs.length; i++) {
          const [to, data] = outputs[i]!;
          const msgID = `${base}.${i}`;
          trackOutput(publisher.publish(outputPrefix + to, data, { msgID }), a, at, to, data, msgID);
        }
      }
      return { emitted: outputs.length };
    };
    // Synchronous handlers (the common case) finish without a trip through the microtask queue.
    let r: unknown;
    try {
      r = at.call(ctx);
    } catch (err) {
      return failed(err);
    }
    if (!(r instanceof Promise)) return apply(r);
    // A handler that hangs past the deadline has failed; if it finishes later, its result is dropped.
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<WeirError>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        resolve(new HandlerError(`${at.subject ? "handler" : "onTimer"} of ${def.name} did not finish within ${deadlineMs} ms`));
      }, deadlineMs);
    });
    return Promise.race([r.then((next) => (timedOut ? failed(new Error("late result after the deadline")) : apply(next)), failed), deadline]).finally(() =>
      clearTimeout(timer),
    );
  };

  /**
   * Runs an invocation, trying again after a backoff (exponential, with jitter) while it fails with
   * a retryable error; the last error (with the number of attempts) is returned. A failed attempt
   * leaves no trace: the actor is restored before the next one and before its dead letter.
   */
  const invokeWithRetries = async (a: LiveActor, at: Invocation, first?: Outcome): Promise<Outcome> => {
    for (let attempt = 1; ; attempt++) {
      let r = attempt === 1 && first ? first : invoke(a, at);
      if (r instanceof Promise) r = await r;
      if (!(r instanceof Error)) return r;
      await restore(a);
      if (!r.retryable || attempt >= attempts) {
        if (attempt > 1) r.message = `${r.message} (after ${attempt} attempts)`;
        return r;
      }
      const backoff = Math.min(maxBackoffMs, baseBackoffMs * 2 ** (attempt - 1));
      await Bun.sleep(backoff / 2 + Math.random() * (backoff / 2));
    }
  };

  /**
   * Puts an actor back as it was before a failed attempt (a handler may have changed its state in
   * place before throwing): from its base, the invocations applied since are run again, without
   * effects (those are out already). The result becomes the new base, so each invocation is run
   * again at most once. Handlers are deterministic for the same reason crash recovery needs them to be.
   */
  const restore = async (a: LiveActor): Promise<void> => {
    const d = defs[a.def]!;
    let base: { state: unknown; timers?: TimerEntry[] };
    if (a.base) base = msgpackCodec.decode(a.base) as typeof base;
    else {
      const rec = a.stored ? await store.loadActor(d.name, a.key) : null;
      base = rec ? { state: parseState(d, a.key, rec.state), ...(rec.timers ? { timers: rec.timers.map((t) => [...t] as TimerEntry) } : {}) } : { state: d.initial(a.key) };
    }
    a.state = base.state;
    a.timers = undefined;
    forgetIfNoTimers(a);
    for (const t of base.timers ?? []) setTimer(a, t);
    const applied = a.log ?? [];
    a.log = undefined;
    for (const entry of applied) {
      if (Array.isArray(entry)) {
        removeTimer(a, entry);
        continue;
      }
      let r = invoke(a, entry, true);
      if (r instanceof Promise) r = await r;
      if (r instanceof Error) log.warn(`actor ${d.name}/${a.key}: an invocation that had succeeded failed when run again to restore the state (is the handler deterministic?): ${r.message}`);
    }
    a.base = msgpackCodec.encode({ state: a.state, ...(a.timers ? { timers: a.timers } : {}) });
  };

  /**
   * Fires an actor's timers of one kind that are due at `upTo`, in time order. Event-time timers
   * fire before the key's next event and at the end of each round; either way they see the same
   * state, so a replay fires them identically.
   */
  const fireDue = async (a: LiveActor, kind: "e" | "p", upTo: number, pos: number, result: RoundResult): Promise<void> => {
    const def = defs[a.def]!;
    for (let n = 0; ; n++) {
      const i = firstDue(a.timers, kind, upTo);
      if (i < 0 || !live.has(idOf(a.def, a.key))) return;
      const due = a.timers![i]!;
      const [time, , tag] = due;
      a.timers!.splice(i, 1);
      forgetIfNoTimers(a);
      a.dirty = true;
      (a.log ??= []).push(due);
      if (tag === TTL_TAG && kind === "e") {
        clearActor(a);
        return;
      }
      if (!def.onTimer) continue;
      if (n >= MAX_FIRES_IN_A_ROW) {
        log.error(`actor ${def.name}/${a.key}: ${n} timers fired in a row (a timer re-arming itself at a due time?); dropping the rest`);
        for (const t of a.timers ?? []) if (t[1] === kind && t[0] <= upTo) a.log.push(t);
        a.timers = a.timers?.filter((t) => t[1] !== kind || t[0] > upTo);
        forgetIfNoTimers(a);
        continue;
      }
      const timer: Timer = { time, kind: kind === "e" ? "event" : "processing", tag };
      const idBase = `${app.name}.${def.name}.${a.partition}.${b64(a.key)}.${kind}${time}.${b64(tag)}`;
      const now = clock.now();
      const r = await invokeWithRetries(a, {
        call: (ctx) => def.onTimer!(a.state, timer, ctx),
        pos,
        seq: a.seq,
        time: kind === "e" ? time : now,
        subject: "",
        eventTime: time,
        watermark: kind === "e" ? upTo : watermark,
        now,
        idBase: () => idBase,
      });
      if (r instanceof Error) {
        if (!fenced(a.partition, pos)) {
          const headers = dlqHeaders(r, { app: app.name, actor: def.name, subject: "", seq: a.seq, key: a.key, contentType: msgpackCodec.contentType });
          track(publisher.publish(opts.dlqSubject, msgpackCodec.encode({ timer }), { msgID: `${idBase}.dlq`, headers }));
        }
        result.dlq++;
      } else {
        result.emitted += r.emitted;
        result.fired = (result.fired ?? 0) + 1;
      }
    }
  };

  const fireAllDue = async (kind: "e" | "p", upTo: number, pos: number, result: RoundResult) => {
    if (withTimers.size === 0 || upTo < nextDue[kind]) return;
    let low = Number.POSITIVE_INFINITY;
    for (const a of [...withTimers]) {
      await fireDue(a, kind, upTo, pos, result);
      for (const t of a.timers ?? []) if (t[1] === kind && t[0] < low) low = t[0];
    }
    nextDue[kind] = low;
  };

  const deadLetterRows = async (rejected: readonly RejectedRow[]) => {
    const origin = new Map<Row, (typeof rowOrigins)[number]>();
    for (const o of rowOrigins) for (const [, row] of o[4]) origin.set(row, o);
    const sent: Promise<void>[] = [];
    for (const { table, row, reason } of rejected) {
      const [a, seq, subject, pos] = origin.get(row)!;
      unreportedDlq++;
      if (fenced(a.partition, pos)) continue;
      const actor = defs[a.def]!.name;
      const err = new RowRejectedError(`table ${table} refused the row of ${actor}/${a.key}: ${reason}`);
      const headers = { ...dlqHeaders(err, { app: app.name, actor, subject, seq, key: a.key, contentType: msgpackCodec.contentType }), [DLQ_HEADERS.table]: table };
      sent.push(publisher.publish(opts.dlqSubject, msgpackCodec.encode({ table, row }), { msgID: `${dlqMsgId(app.name, actor, seq)}.${table}`, headers }));
    }
    await Promise.all(sent);
  };

  /**
   * Writes buffered rows (one sink transaction, with every partition's position) and view values.
   * Retries what the database or the broker refuse for a while; then the error stops the app.
   */
  const flushEffects = async () => {
    if (opts.sink && app.tables) {
      const offsets: [number, number][] = [];
      for (const [p, ps] of parts) if (ps.through > (sinkOffsets.get(p) ?? 0)) offsets.push([p, ps.through]);
      if (pendingRowCount > 0 || offsets.length > 0) {
        const batch = { rows: new Map(pendingRows), offsets };
        for (;;) {
          try {
            await retrying(() => opts.sink!.write(batch), { onRetry: (err) => log.warn(`sink write failed (${describeError(err)}); retrying`) });
            break;
          } catch (err) {
            if (!(err instanceof RowsRejectedError)) throw err;
            // Rows the database refuses for their content are their events' failures: dead-lettered
            // (stored before the batch without them is written), and the rest goes on.
            await deadLetterRows(err.rejected);
            const refused = new Set(err.rejected.map((r) => r.row));
            for (const [table, rows] of batch.rows) batch.rows.set(table, rows.filter((r) => !refused.has(r)));
          }
        }
        for (const [p, seq] of offsets) sinkOffsets.set(p, seq);
      }
      pendingRows.clear();
      rowOrigins.length = 0;
      pendingRowCount = 0;
    }
    if (opts.views && app.views?.length) {
      const offsets: [number, number][] = [];
      for (const [p, ps] of parts) if (ps.through > (viewOffsets.get(p) ?? 0)) offsets.push([p, ps.through]);
      if (pendingViews.size > 0 || offsets.length > 0) {
        await opts.views.write([...pendingViews.values()], offsets);
        for (const [p, seq] of offsets) viewOffsets.set(p, seq);
      }
      pendingViews.clear();
    }
  };

  return {
    async init() {
      if (app.tables && !opts.sink) throw new Error(`app ${app.name} declares tables but the host has no SQL sink`);
      if (app.views?.length && !opts.views) throw new Error(`app ${app.name} declares views but the host has no view store`);
      if (opts.sink && app.tables) {
        await opts.sink.prepare(app.tables);
        for (const [p, seq] of await opts.sink.offsets()) if (opts.partitions.includes(p)) sinkOffsets.set(p, seq);
      }
      if (opts.views) for (const [p, seq] of await opts.views.offsets()) if (opts.partitions.includes(p)) viewOffsets.set(p, seq);
      const metas = await Promise.all(opts.partitions.map((p) => store.loadMeta(p)));
      opts.partitions.forEach((p, i) => {
        const m = metas[i];
        const lastSeq = m?.lastSeq ?? 0;
        parts.set(p, { lastSeq, through: lastSeq, storedAtStart: m !== null, hasMeta: m !== null, ...(m?.marks ? { marks: m.marks } : {}) });
      });
      anyStoredAtStart = metas.some((m) => m !== null);
      // Actors with pending timers come back at once: their timers must fire without waiting for
      // the key's next event.
      const index = new Map(defs.map((d, i) => [d.name, i]));
      const owed: [number, string, number][] = [];
      opts.partitions.forEach((p, i) => {
        for (const [name, key] of metas[i]?.timers ?? []) {
          const def = index.get(name);
          if (def !== undefined) owed.push([def, key, p]);
        }
      });
      for (let i = 0; i < owed.length; i += LOAD_CONCURRENCY) {
        const loaded = await Promise.all(owed.slice(i, i + LOAD_CONCURRENCY).map(([d, k, p]) => loadActor(d, k, p)));
        for (const a of loaded) live.set(idOf(a.def, a.key), a);
      }
      // Timers loaded from the store: the first rounds scan for them.
      nextDue.e = nextDue.p = Number.NEGATIVE_INFINITY;
    },

    async process(round) {
      const result: RoundResult = { id: round.id, processed: 0, skipped: 0, emitted: 0, dlq: 0 };
      await prefetch(round.events);
      const now = clock.now();
      for (const ev of round.events) {
        const [seq, time, subject, defIdx, key, partition, value] = ev;
        const p = parts.get(partition);
        if (!p) throw new Error(`bug: event for partition ${partition} reached a host that does not own it`);
        if (seq <= p.lastSeq) {
          result.skipped++;
          continue;
        }
        const id = idOf(defIdx, key);
        let actor = live.get(id);
        if (actor && seq <= actor.seq) {
          // Already applied and stored before a restart: its effects are out, skip it.
          result.skipped++;
          continue;
        }
        const before = ev[8] ?? Number.NEGATIVE_INFINITY;
        if (actor?.timers) {
          // Timers due before this event belong to the position just before it.
          await fireDue(actor, "e", before, seq - 1, result);
          actor = live.get(id);
        }
        if (!actor) {
          actor = fresh(defIdx, key, partition);
          live.set(id, actor);
        }
        const def = defs[defIdx]!;
        actor.lastActive = now;
        const parsed = def.event.safeParse(value);
        if (!parsed.success) {
          deadLetter(ev, new ValidationError(`event does not match the input schema of ${def.name}: ${issuesOf(parsed.error)}`));
          result.dlq++;
          actor.seq = seq;
          continue;
        }
        const a = actor;
        const at: Invocation = {
          call: (ctx: Context) => def.handle(a.state, parsed.data, ctx),
          pos: seq,
          seq,
          time,
          subject,
          eventTime: ev[7] ?? time,
          watermark: before,
          now,
          idBase: () => `${app.name}.${def.name}.${partition}.${seq}`,
        };
        let r = invoke(a, at);
        if (r instanceof Promise) r = await r;
        // Only a failure pays for the retry loop (which also restores the actor).
        if (r instanceof Error) r = await invokeWithRetries(a, at, r);
        a.seq = seq;
        if (r instanceof Error) {
          deadLetter(ev, r);
          result.dlq++;
          continue;
        }
        result.emitted += r.emitted;
        result.processed++;
        if (def.ttlMs !== undefined && live.get(id) === a) expireLater(a, (ev[7] ?? time) + def.ttlMs);
      }
      for (const p of parts.values()) if (round.through > p.through) p.through = round.through;
      if (round.marks) marks = round.marks;
      if (round.watermark !== undefined && round.watermark > watermark) watermark = round.watermark;
      await fireAllDue("e", watermark, round.through, result);
      await fireAllDue("p", clock.now(), round.through, result);
      if (pendingRowCount >= FLUSH_ROWS) await flushEffects();
      // Outputs stay in flight while the next rounds run (the broker works while we do); only
      // their number is bounded here, and a snapshot waits for all of them.
      if (inflight.length >= MAX_PENDING_PUBLISHES) await settle();
      eventsSinceSnapshot += round.events.length;
      result.dlq += takeUnreported();
      return result;
    },

    async tick() {
      const result: RoundResult = { id: -1, processed: 0, skipped: 0, emitted: 0, dlq: 0 };
      let pos = 0;
      for (const p of parts.values()) pos = Math.max(pos, p.through);
      await fireAllDue("p", clock.now(), pos, result);
    },

    snapshotDue() {
      if (eventsSinceSnapshot >= everyEvents) return true;
      if (clock.now() - lastSnapshotAt < everyMs) return false;
      if (eventsSinceSnapshot > 0) return true;
      for (const p of parts.values()) if (p.through > p.lastSeq) return true;
      return false;
    },

    async snapshot() {
      // Effects are durable before state is: a snapshot never covers an event whose outputs the
      // server, or whose rows the database, has not stored.
      await settle();
      await flushEffects();
      const writes: ActorWrite[] = [];
      const dirty: LiveActor[] = [];
      for (const a of live.values()) {
        if (!a.dirty) continue;
        dirty.push(a);
        writes.push({
          actor: defs[a.def]!.name,
          key: a.key,
          record: { v: SNAPSHOT_VERSION, seq: a.seq, state: a.state, ...(a.timers ? { timers: a.timers } : {}) },
        });
      }
      const deletes = [...cleared].filter(([id]) => !live.has(id)).map(([, v]) => v);
      cleared.clear();
      const savedAt = clock.now();
      // A partition's meta must exist before its first state does: on restart, "no meta" means
      // "nothing stored", which lets a fresh partition skip store look-ups for new keys.
      const needMarker = new Set<number>();
      for (const a of dirty) if (!parts.get(a.partition)!.hasMeta) needMarker.add(a.partition);
      await Promise.all(
        [...needMarker].map(async (p) => {
          const ps = parts.get(p)!;
          await store.saveMeta(p, { v: SNAPSHOT_VERSION, lastSeq: ps.lastSeq, savedAt, ...(ps.marks ? { marks: ps.marks } : {}) });
          ps.hasMeta = true;
        }),
      );
      await store.saveActors(writes);
      await store.deleteActors(deletes);
      for (const a of dirty) {
        a.dirty = false;
        // What is stored is now what a failed attempt restores from.
        a.stored = true;
        a.base = undefined;
        a.log = undefined;
      }
      const timerOwners = new Map<number, [string, string][]>();
      for (const a of withTimers) {
        let list = timerOwners.get(a.partition);
        if (!list) timerOwners.set(a.partition, (list = []));
        list.push([defs[a.def]!.name, a.key]);
      }
      await Promise.all(
        [...parts].map(async ([p, ps]) => {
          if (ps.through <= ps.lastSeq) return;
          const through = ps.through;
          const owners = timerOwners.get(p);
          await store.saveMeta(p, {
            v: SNAPSHOT_VERSION,
            lastSeq: through,
            savedAt,
            ...(marks ? { marks } : {}),
            ...(owners ? { timers: owners } : {}),
          });
          ps.lastSeq = through;
          if (marks) ps.marks = marks;
          ps.hasMeta = true;
        }),
      );
      eventsSinceSnapshot = 0;
      lastSnapshotAt = clock.now();
      evictIdle();
      return takeUnreported();
    },

    size: () => live.size,
  };
}
