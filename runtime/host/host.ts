import {
  base64url,
  hostConfig,
  HandlerError,
  ValidationError,
  type ActorDefinition,
  type AppDefinition,
  type HostConfig,
  type Logger,
  type Round,
  type RoundResult,
  type RoutedEvent,
  type Scheduler,
  type Timer,
  type WeirError,
} from "../contract/mod.ts";
import { deadLetters, type Publisher } from "../output/mod.ts";
import { countDeadLetter, DURATION_BOUNDS, endEventSpan, eventSpan, observe, SIZE_BOUNDS, type Telemetry } from "../observe/mod.ts";
import type { SqlSink } from "../sinks/mod.ts";
import { SNAPSHOT_VERSION, type ActorWrite, type PartitionMeta, type SnapshotStore, type ViewStore } from "../state/mod.ts";
import { createActorCache, issuesOf, type Invocation, type LiveActor } from "./actors.ts";
import { contextEnv } from "./context.ts";
import { createEffects } from "./effects.ts";
import { createInvoker, type InvocationWatch, type Outcome } from "./invocation.ts";
import { createTimerIndex, firstDue, TTL_TAG } from "./timers.ts";

export interface ActorHostOptions {
  app: AppDefinition;
  /** Partitions this host owns. */
  partitions: readonly number[];
  store: SnapshotStore;
  publisher: Publisher;
  dlqSubject: string;
  scheduler: Scheduler;
  log: Logger;
  /** Snapshot, eviction and retry settings; default: the app's over the defaults. */
  config?: HostConfig;
  /** Where handler durations, retries, dead letters, sink batches and snapshot sizes are counted. */
  telemetry?: Telemetry;
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
  /**
   * The fencing epoch of each partition's lease (live runs): the host claims its partitions at
   * init, and every meta, view and row write of a partition that has since moved to a newer owner
   * is refused with a `FencedError`. Absent: writes are not fenced (a replay, alone under its lock).
   */
  epochs?: ReadonlyMap<number, number>;
  /**
   * Resolves once the partitions' leases are known to be held (see `Ownership.heldUntil`): awaited
   * before each write to the stores, so a host that was paused past its leases does not write on
   * them. The storage's own fencing (epochs) catches what lands after this check.
   */
  leaseHeld?: () => Promise<void>;
  /**
   * Told when a handler starts and ends on an event, so that another thread can see one that never
   * returns (a synchronous loop blocks this thread, its timers included).
   */
  watch?: InvocationWatch;
  /**
   * Events whose handler was stopped by the watchdog before (`"<partition>:<seq>:<actor index>"`):
   * they are dead-lettered (reason: deadline, sync) instead of being run again.
   */
  stuck?: ReadonlySet<string>;
  /**
   * Called when a held key's attempt that was still running (an async handler past the grace
   * period) has settled: `tick` should run soon to go on with that key.
   */
  wake?: () => void;
}

/** The key of an event in {@link ActorHostOptions.stuck}. */
export const stuckKey = (partition: number, seq: number, def: number) => `${partition}:${seq}:${def}`;

/** Hosts the actors of a set of partitions: applies events, publishes effects, snapshots. */
export interface ActorHost {
  /** Loads partition progress from the store, and claims the partitions (with `epochs`). */
  init(): Promise<void>;
  /** Takes more partitions on (a rebalance), as `init` does for the first ones, with their lease epochs. */
  add(partitions: readonly number[], epochs: ReadonlyMap<number, number>): Promise<void>;
  /**
   * Lets partitions go (handed to another owner): their actors leave memory, their held keys are
   * forgotten. Call it right after a `snapshot`, with nothing of theirs applied since.
   */
  drop(partitions: readonly number[]): Promise<void>;
  /**
   * Applies a round. Its outputs may still be in flight when this resolves; `snapshot` awaits them.
   * An event whose handler fails with a retryable error (or an async one still running after a
   * moment) holds back only its key: that key's later events queue behind it, other keys go on,
   * and `tick` tries it again when its backoff is over. Past {@link MAX_HELD} held events, this
   * waits for them.
   */
  process(round: Round): Promise<RoundResult>;
  /** True when the snapshot policy says it is time (events or elapsed time since the last one). */
  snapshotDue(): boolean;
  /**
   * Waits until every output published so far is stored, then persists dirty states, then partition
   * progress; evicts idle clean actors afterwards. Throws if a publish failed. Resolves with the
   * number of dead letters sent since the last round reported (refused rows and outputs).
   */
  snapshot(): Promise<number>;
  /**
   * Fires processing-time timers that are due on the host's clock, and tries the held keys' events
   * whose retry is due (see {@link ActorHost.process}).
   */
  tick(): Promise<RoundResult>;
  /** Tries the held keys' events until none is held (a replay's end), waiting for their retries. */
  drain(): Promise<RoundResult>;
  /**
   * Every event of the partition up to here is applied: the position rounds have reached, held back
   * to just before the earliest event of a held key.
   */
  through(partition: number): number;
  /** Events held back (a key's failing event and the later events of that key). */
  held(): number;
  /** When the earliest retry of a held key is due (scheduler time); Infinity when none is waiting on time. */
  nextRetryAt(): number;
  /**
   * Dead-letters a message of a partition's stream that reached no actor; stored before the
   * snapshot that moves the partition past it.
   */
  reject(partition: number, msg: { subject: string; seq: number; data: Uint8Array; contentType?: string; trace?: string }, err: WeirError, actor?: string): void;
  /** Each partition's stored position and watermark tracker state (after `init`: where to read from). */
  positions(): { partition: number; lastSeq: number; marks?: number[] }[];
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
  /** Watermark tracker state as of `through` (stored with the next snapshot). */
  pendingMarks?: number[];
  /** The partition's watermark after its last round (event time, ms). */
  watermark: number;
  /** The meta last read or written (a claim writes it again, with this host's epoch). */
  meta?: PartitionMeta;
}

/** Actor records written between two checks of the leases. */
const WRITE_CHUNK = 1024;

/** Events held back by failing keys before `process` waits for their retries (memory stays bounded). */
export const MAX_HELD = 10_000;

/** One handler run in this many is timed for `weir_handler_duration_seconds` (a sample: its count is that much smaller). */
export const HANDLER_SAMPLE = 8;

/** How long an async handler runs inline before its key is held and the round goes on without it. */
const GRACE_MS = 100;

/** An attempt of an async handler still running after the grace period. */
type Running = { running: Promise<Outcome> };

/** A key held back by a failing event: it and the later events of that key wait; other keys go on. */
interface Hold {
  actor: LiveActor;
  /** The failing event, then the key's later events, in order. */
  queue: RoutedEvent[];
  /** The failing event's invocation. */
  at: Invocation;
  /** Attempts made so far. */
  attempt: number;
  /** When the next attempt is due (scheduler time). */
  dueAt: number;
  /** An attempt still running (an async handler past the grace period). */
  running?: Promise<void>;
  /** What the event came to, once decided: its outcome, or the error it is dead-lettered with. */
  final?: Outcome;
  /** Restoring the actor after a running attempt failed, failed: thrown by the next `tick`. */
  broken?: unknown;
}

/** Timers one key may fire in a row before the host calls it a loop (a timer that re-arms itself at a due time). */
const MAX_FIRES_IN_A_ROW = 100_000;

/**
 * Builds the host for one worker's partitions: the round loop over the actor cache, timers,
 * invocations (handler contexts, retries, restores) and effects.
 *
 * @example
 * const host = createActorHost({ app, partitions: [0, 2], store, publisher, dlqSubject, scheduler, log });
 * await host.init();
 * await host.process(round);
 */
export function createActorHost(opts: ActorHostOptions): ActorHost {
  const { app, store, publisher, scheduler, log } = opts;
  const config = opts.config ?? hostConfig(app);
  const defs = app.actors as readonly ActorDefinition<unknown, unknown>[];
  const parts = new Map<number, PartitionState>();
  const timers = createTimerIndex();
  const { stuck } = opts;
  /** The lease epoch of each partition held now (partitions come and go with `add` and `drop`; the effects read it too). */
  const epochs = opts.epochs ? new Map([...opts.epochs].filter(([p]) => opts.partitions.includes(p))) : undefined;
  const leaseHeld = opts.leaseHeld ?? (async () => {});
  /** A meta write of this host's, with the partition's epoch when it holds a lease. */
  const saveMeta = async (p: number, ps: PartitionState, meta: Omit<PartitionMeta, "v" | "epoch">) => {
    const epoch = epochs?.get(p);
    const full: PartitionMeta = { v: SNAPSHOT_VERSION, ...meta, ...(epoch !== undefined ? { epoch } : {}) };
    await store.saveMeta(p, full);
    ps.meta = full;
    ps.hasMeta = true;
  };
  /**
   * Writes every partition's meta again with this host's epoch: the store refuses it (FencedError)
   * for a partition a newer owner has claimed, which stops this host before it writes anything
   * else for it.
   */
  const claim = async (only?: readonly number[]) => {
    await leaseHeld();
    const which = only ?? [...parts.keys()];
    await Promise.all(
      which.map((p) => {
        const ps = parts.get(p)!;
        return saveMeta(p, ps, ps.meta ?? { lastSeq: ps.lastSeq, savedAt: scheduler.now(), ...(ps.marks ? { marks: ps.marks } : {}) });
      }),
    );
  };
  const { telemetry } = opts;
  /** Handler runs so far (every HANDLER_SAMPLE-th is timed for the metrics). */
  let runs = 0;
  const cache = createActorCache({ defs, store, scheduler, timers, log, storedAtStart: (p) => parts.get(p)?.storedAtStart ?? false, ...(telemetry ? { telemetry } : {}) });
  const effects = createEffects({
    app,
    defs,
    publisher,
    dlq: deadLetters({ app: app.name, subject: opts.dlqSubject, publisher, ...(telemetry ? { stored: (c: string) => countDeadLetter(telemetry, c) } : {}) }),
    log,
    scheduler,
    ...(telemetry ? { telemetry } : {}),
    ...(opts.sink ? { sink: opts.sink } : {}),
    ...(opts.views ? { views: opts.views } : {}),
    outputPrefix: opts.outputPrefix ?? "",
    ...(opts.fence ? { fence: opts.fence } : {}),
    ...(epochs ? { epochs, guard: () => claim(), leaseHeld } : {}),
  });
  const { invoke, invokeWithRetries, afterFailure } = createInvoker({
    contexts: contextEnv(app, log, publisher.maxPayload),
    defs,
    cache,
    timers,
    effects,
    store,
    scheduler,
    log,
    retry: config.retry,
    ...(opts.watch ? { watch: opts.watch } : {}),
  });
  let eventsSinceSnapshot = 0;
  let lastSnapshotAt = scheduler.now();
  /** Keys held back by a failing event, and how many events they hold. */
  const holds = new Map<LiveActor, Hold>();
  let heldEvents = 0;
  const through = (p: number): number => {
    let t = parts.get(p)!.through;
    for (const h of holds.values()) if (h.actor.partition === p && h.queue[0]![0] <= t) t = h.queue[0]![0] - 1;
    return t;
  };
  const positions = (): [number, number][] => [...parts.keys()].map((p) => [p, through(p)]);
  const newResult = (id: number): RoundResult => ({ id, processed: 0, skipped: 0, emitted: 0, dlq: 0 });

  /**
   * Fires an actor's timers of one kind that are due at `upTo`, in time order. Event-time timers
   * fire before the key's next event and at the end of each round; either way they see the same
   * state, so a replay fires them identically.
   */
  const fireDue = async (a: LiveActor, kind: "e" | "p", upTo: number, pos: number, result: RoundResult): Promise<void> => {
    const def = defs[a.def]!;
    for (let n = 0; ; n++) {
      const i = firstDue(a.timers, kind, upTo);
      if (i < 0 || !cache.has(a)) return;
      const due = a.timers![i]!;
      const [time, , tag] = due;
      a.timers!.splice(i, 1);
      timers.forgetIfNone(a);
      a.dirty = true;
      (a.log ??= []).push(due);
      if (tag === TTL_TAG && kind === "e") {
        cache.clear(a);
        return;
      }
      if (!def.onTimer) continue;
      if (n >= MAX_FIRES_IN_A_ROW) {
        log.error(`actor ${def.name}/${a.key}: ${n} timers fired in a row (a timer re-arming itself at a due time?); dropping the rest`);
        for (const t of a.timers ?? []) if (t[1] === kind && t[0] <= upTo) a.log.push(t);
        a.timers = a.timers?.filter((t) => t[1] !== kind || t[0] > upTo);
        timers.forgetIfNone(a);
        continue;
      }
      const timer: Timer = { time, kind: kind === "e" ? "event" : "processing", tag };
      const idBase = `${app.name}.${def.name}.${a.partition}.${base64url.encode(a.key)}.${kind}${time}.${base64url.encode(tag)}`;
      const now = scheduler.now();
      const r = await invokeWithRetries(a, {
        input: timer,
        pos,
        seq: a.seq,
        time: kind === "e" ? time : now,
        subject: "",
        eventTime: time,
        watermark: kind === "e" ? upTo : parts.get(a.partition)!.watermark,
        now,
        idBase,
      });
      if (r instanceof Error) {
        effects.deadTimer(a, pos, timer, idBase, r);
        result.dlq++;
      } else {
        result.emitted += r.emitted;
        result.fired = (result.fired ?? 0) + 1;
      }
    }
  };

  /**
   * Fires the due timers of every actor: event-time ones up to their partition's watermark,
   * processing-time ones up to now; each at its partition's position.
   */
  const fireAllDue = async (kind: "e" | "p", result: RoundResult) => {
    if (timers.owners.size === 0) return;
    const now = scheduler.now();
    let high = kind === "p" ? now : Number.NEGATIVE_INFINITY;
    if (kind === "e") for (const ps of parts.values()) if (ps.watermark > high) high = ps.watermark;
    if (high < timers.nextDue[kind]) return;
    let low = Number.POSITIVE_INFINITY;
    for (const a of [...timers.owners]) {
      const ps = parts.get(a.partition)!;
      // A held key's timers wait behind its event (they fire once it is let go).
      if (!a.held) await fireDue(a, kind, kind === "e" ? ps.watermark : now, ps.through, result);
      for (const t of a.timers ?? []) if (t[1] === kind && t[0] < low) low = t[0];
    }
    timers.nextDue[kind] = low;
  };

  /**
   * Takes partitions on (at start, or added to a running host): loads their progress, claims them
   * with their epochs (writes of an earlier owner still running somewhere are refused from here
   * on), reads where the sink and views are for them, and loads their actors with pending timers.
   */
  const own = async (partitions: readonly number[]): Promise<void> => {
    const metas = await Promise.all(partitions.map((p) => store.loadMeta(p)));
    partitions.forEach((p, i) => {
      const m = metas[i];
      const lastSeq = m?.lastSeq ?? 0;
      const marks = m?.marks;
      parts.set(p, {
        lastSeq,
        through: lastSeq,
        storedAtStart: m !== null,
        hasMeta: m !== null,
        watermark: marks?.[0] ?? Number.NEGATIVE_INFINITY,
        ...(marks ? { marks, pendingMarks: marks } : {}),
        ...(m ? { meta: m } : {}),
      });
    });
    if (epochs) await claim(partitions);
    await effects.init(partitions);
    cache.setAnyStoredAtStart([...parts.values()].some((ps) => ps.storedAtStart));
    // Actors with pending timers come back at once: their timers must fire without waiting for
    // the key's next event.
    const index = new Map(defs.map((d, i) => [d.name, i]));
    const owed: [number, string, number][] = [];
    partitions.forEach((p, i) => {
      for (const [name, key] of metas[i]?.timers ?? []) {
        const def = index.get(name);
        if (def !== undefined) owed.push([def, key, p]);
      }
    });
    await cache.loadAll(owed);
    // Timers loaded from the store: the next rounds scan for them.
    timers.nextDue.e = timers.nextDue.p = Number.NEGATIVE_INFINITY;
  };

  /**
   * Runs one attempt of an event's handler. An async handler not settled within the grace period
   * goes on running and is returned as such: its key is held meanwhile.
   */
  const attempt = (a: LiveActor, at: Invocation): Outcome | Promise<Outcome | Running> => {
    // One run in HANDLER_SAMPLE is timed: a clock read costs ~40 ns here, a quiet handler ~1 µs.
    const timed = telemetry !== undefined && ++runs % HANDLER_SAMPLE === 0;
    const t0 = timed ? performance.now() : 0;
    const r = invoke(a, at);
    // A synchronous handler (the common case) settles here, without a trip through the microtask queue.
    if (!(r instanceof Promise)) {
      if (timed) observe(telemetry.handler, DURATION_BOUNDS, (performance.now() - t0) / 1000);
      return r;
    }
    if (timed) void r.then(() => observe(telemetry.handler, DURATION_BOUNDS, (performance.now() - t0) / 1000));
    return graced(r);
  };
  const graced = async (r: Promise<Outcome>): Promise<Outcome | Running> => {
    let cancel = () => {};
    const grace = new Promise<undefined>((resolve) => {
      cancel = scheduler.schedule(() => resolve(undefined), GRACE_MS);
    });
    const settled = await Promise.race([r, grace]);
    cancel();
    return settled ?? { running: r };
  };

  /** An attempt failed or succeeded: decides the event (`final`), or when it is tried next. */
  const decide = async (h: Hold, r: Outcome): Promise<void> => {
    if (!(r instanceof Error)) {
      h.final = r;
      return;
    }
    const next = await afterFailure(h.actor, r, h.attempt);
    if (next instanceof Error) h.final = next;
    else h.dueAt = scheduler.now() + next;
  };

  /** Holds a key back at its event, or (its attempt still running) learns the outcome when it settles. */
  const hold = (a: LiveActor, ev: RoutedEvent, at: Invocation): Hold => {
    const h: Hold = { actor: a, queue: [ev], at, attempt: 1, dueAt: Number.POSITIVE_INFINITY };
    holds.set(a, h);
    a.held = true;
    heldEvents++;
    return h;
  };
  const follow = (h: Hold, running: Promise<Outcome>) => {
    h.running = running
      .then((r) => decide(h, r))
      .catch((err) => {
        h.broken = err;
      })
      .finally(() => {
        h.running = undefined;
        opts.wake?.();
      });
  };

  /** An event's outcome takes effect: the key has moved past it (applied, or dead-lettered). */
  const settle = (a: LiveActor, ev: RoutedEvent, r: Outcome, result: RoundResult, traced?: Pick<Invocation, "span" | "trace">) => {
    a.seq = ev[0];
    endEventSpan(traced?.span, r);
    if (r instanceof Error) {
      effects.deadEvent(a, ev[0], ev[2], ev[6], r, traced?.trace ?? ev[9]);
      result.dlq++;
      return;
    }
    result.emitted += r.emitted;
    result.processed++;
  };

  /**
   * Applies one event of a round (or of a held key let go), or queues it behind its held key.
   * Returns a promise only when it has to wait (timers due before the event, an async handler, a
   * failure's restore): the common event costs no trip through the microtask queue.
   */
  const applyEvent = (ev: RoutedEvent, result: RoundResult, now: number): Promise<void> | undefined => {
    const [seq, , , defIdx, key, partition] = ev;
    const p = parts.get(partition);
    if (!p) throw new Error(`bug: event for partition ${partition} reached a host that does not own it`);
    if (seq <= p.lastSeq) {
      result.skipped++;
      return;
    }
    const actor = cache.get(defIdx, key);
    if (actor?.held) {
      holds.get(actor)!.queue.push(ev);
      heldEvents++;
      return;
    }
    if (actor && seq <= actor.seq) {
      // Already applied and stored before a restart: its effects are out, skip it.
      result.skipped++;
      return;
    }
    // Timers due before this event belong to the position just before it (they may clear the actor).
    if (actor?.timers) return fireDue(actor, "e", ev[8] ?? Number.NEGATIVE_INFINITY, seq - 1, result).then(() => runEvent(ev, result, now, cache.get(defIdx, key)));
    return runEvent(ev, result, now, actor);
  };

  /** Runs an event's handler on its actor (`found` in memory, else created): settles the event, or holds its key. */
  const runEvent = (ev: RoutedEvent, result: RoundResult, now: number, found: LiveActor | undefined): Promise<void> | undefined => {
    const [seq, time, subject, defIdx, key, partition, value] = ev;
    const actor = found ?? cache.create(defIdx, key, partition);
    const def = defs[defIdx]!;
    actor.lastActive = now;
    // A traced event's processing is a span (when an OpenTelemetry SDK records it): its outputs and dead letters name it.
    const span = ev[9] ? eventSpan(ev[9], def.name, { "weir.app": app.name, "weir.actor": def.name, "weir.key": key, "weir.partition": partition, "messaging.system": "nats", "messaging.destination.name": subject, "weir.seq": seq }) : undefined;
    const trace = span?.traceparent ?? ev[9];
    const parsed = def.event.safeParse(value);
    if (!parsed.success) {
      settle(actor, ev, new ValidationError(`event does not match the input schema of ${def.name}: ${issuesOf(parsed.error)}`), result, { span, trace });
      return;
    }
    const a = actor;
    if (stuck && stuck.size > 0 && stuck.has(stuckKey(partition, seq, defIdx))) {
      settle(a, ev, new HandlerError(`deadline, sync: the handler of ${def.name} ran for more than ${config.retry.deadlineMs} ms without returning; its worker was stopped`), result, { span, trace });
      return;
    }
    const at: Invocation = {
      input: parsed.data,
      pos: seq,
      seq,
      time,
      subject,
      eventTime: ev[7] ?? time,
      watermark: ev[8] ?? Number.NEGATIVE_INFINITY,
      now,
      expireAt: def.ttlMs !== undefined ? (ev[7] ?? time) + def.ttlMs : undefined,
      trace,
      span,
    };
    const r = attempt(a, at);
    if (r instanceof Promise) return r.then((o) => ("running" in o ? void follow(hold(a, ev, at), o.running) : outcome(a, ev, at, o, result)));
    return outcome(a, ev, at, r, result);
  };

  /** A first attempt's outcome: the event settles, or (a retryable failure) its key is held for a retry. */
  const outcome = (a: LiveActor, ev: RoutedEvent, at: Invocation, r: Outcome, result: RoundResult): Promise<void> | undefined => {
    if (!(r instanceof Error)) {
      settle(a, ev, r, result, at);
      return;
    }
    // Only a failure pays for the restore and the decision.
    return afterFailure(a, r, 1).then((next) => {
      if (next instanceof Error) settle(a, ev, next, result, at);
      else hold(a, ev, at).dueAt = scheduler.now() + next;
    });
  };

  /** Lets a decided key go: its event takes effect, then its queued events are applied (one may hold it again). */
  const release = async (h: Hold, result: RoundResult) => {
    holds.delete(h.actor);
    h.actor.held = false;
    heldEvents -= h.queue.length;
    settle(h.actor, h.queue[0]!, h.final!, result, h.at);
    const now = scheduler.now();
    for (let i = 1; i < h.queue.length; i++) {
      const pending = applyEvent(h.queue[i]!, result, now);
      if (pending) await pending;
    }
  };

  /** Tries the held keys whose retry is due, and lets go of those decided. */
  const retryDue = async (result: RoundResult) => {
    for (const h of [...holds.values()]) {
      if (h.broken !== undefined) throw h.broken;
      if (h.running) continue;
      if (h.final === undefined) {
        if (h.dueAt > scheduler.now()) continue;
        h.attempt++;
        if (telemetry) telemetry.retries++;
        const tried = attempt(h.actor, h.at);
        const r = tried instanceof Promise ? await tried : tried;
        if ("running" in r) {
          follow(h, r.running);
          continue;
        }
        await decide(h, r);
        if (h.final === undefined) continue;
      }
      await release(h, result);
    }
  };

  /** When the earliest held key not running is due: at once when decided (or broken). */
  const dueAt = () => {
    let next = Number.POSITIVE_INFINITY;
    for (const h of holds.values()) {
      if (h.running) continue;
      const at = h.final !== undefined || h.broken !== undefined ? 0 : h.dueAt;
      if (at < next) next = at;
    }
    return next;
  };

  /** Waits for the next held key to be due (a backoff over, a running attempt settled), then tries it. */
  const waitForHeld = async (result: RoundResult) => {
    const running = [...holds.values()].flatMap((h) => (h.running ? [h.running] : []));
    const wait = Math.max(0, dueAt() - scheduler.now());
    if (wait > 0) await Promise.race([...running, ...(wait !== Number.POSITIVE_INFINITY ? [scheduler.sleep(wait)] : [])]);
    await retryDue(result);
  };

  return {
    init: () => own(opts.partitions),

    async add(partitions, with_) {
      for (const [p, e] of with_) epochs?.set(p, e);
      await own(partitions);
    },

    async drop(partitions) {
      const gone = new Set(partitions);
      for (const [a, h] of holds) {
        if (!gone.has(a.partition)) continue;
        // Its event is read again by the next owner (the snapshot stopped short of it).
        holds.delete(a);
        a.held = false;
        heldEvents -= h.queue.length;
      }
      cache.drop(gone);
      for (const p of gone) {
        parts.delete(p);
        epochs?.delete(p);
        effects.forget(p);
      }
    },

    async process(round) {
      if (round.partition !== undefined && !parts.has(round.partition)) throw new Error(`bug: a round of partition ${round.partition} reached a host that does not own it`);
      const result = newResult(round.id);
      await cache.prefetch(round.events);
      const now = scheduler.now();
      for (const ev of round.events) {
        const pending = applyEvent(ev, result, now);
        if (pending) await pending;
      }
      const moved = round.partition === undefined ? parts.values() : [parts.get(round.partition)!];
      for (const p of moved) {
        if (round.through > p.through) p.through = round.through;
        if (round.marks) p.pendingMarks = round.marks;
        if (round.watermark !== undefined && round.watermark > p.watermark) p.watermark = round.watermark;
      }
      if (holds.size > 0) await retryDue(result);
      while (heldEvents > MAX_HELD) await waitForHeld(result);
      await fireAllDue("e", result);
      await fireAllDue("p", result);
      await effects.relieve(positions);
      eventsSinceSnapshot += round.events.length;
      result.dlq += effects.takeUnreported();
      return result;
    },

    async tick() {
      const result = newResult(-1);
      if (holds.size > 0) {
        await retryDue(result);
        // Let go of a key: its timers that came due meanwhile fire now.
        await fireAllDue("e", result);
      }
      await fireAllDue("p", result);
      result.dlq += effects.takeUnreported();
      return result;
    },

    async drain() {
      const result = newResult(-1);
      while (holds.size > 0) await waitForHeld(result);
      await fireAllDue("e", result);
      result.dlq += effects.takeUnreported();
      return result;
    },

    through,

    held: () => heldEvents,

    nextRetryAt: dueAt,

    snapshotDue() {
      if (eventsSinceSnapshot >= config.snapshot.everyEvents) return true;
      if (scheduler.now() - lastSnapshotAt < config.snapshot.everyMs) return false;
      if (eventsSinceSnapshot > 0) return true;
      for (const p of parts.keys()) if (through(p) > parts.get(p)!.lastSeq) return true;
      return false;
    },

    async snapshot() {
      // A held key's running attempt ends (by its deadline at the latest) before its state is written.
      await Promise.all([...holds.values()].map((h) => h.running));
      // Effects are durable before state is: a snapshot never covers an event whose outputs the
      // server, or whose rows the database, has not stored.
      await effects.settle();
      await effects.flush(positions());
      const writes: ActorWrite[] = [];
      const dirty: LiveActor[] = [];
      for (const a of cache.live.values()) {
        if (!a.dirty) continue;
        dirty.push(a);
        writes.push({
          actor: defs[a.def]!.name,
          key: a.key,
          record: { v: SNAPSHOT_VERSION, seq: a.seq, state: a.state, ...(a.timers ? { timers: a.timers } : {}) },
        });
      }
      const deletes = cache.takeCleared();
      const savedAt = scheduler.now();
      // A partition's meta must exist before its first state does: on restart, "no meta" means
      // "nothing stored", which lets a fresh partition skip store look-ups for new keys.
      const needMarker = new Set<number>();
      for (const a of dirty) if (!parts.get(a.partition)!.hasMeta) needMarker.add(a.partition);
      await Promise.all(
        [...needMarker].map((p) => {
          const ps = parts.get(p)!;
          return saveMeta(p, ps, { lastSeq: ps.lastSeq, savedAt, ...(ps.marks ? { marks: ps.marks } : {}) });
        }),
      );
      let written = 0;
      for (let i = 0; i < writes.length; i += WRITE_CHUNK) {
        await leaseHeld();
        const sizes = await store.saveActors(writes.slice(i, i + WRITE_CHUNK));
        for (let j = 0; j < sizes.length; j++) {
          const a = dirty[i + j]!;
          written += sizes[j]!;
          if (telemetry) telemetry.stateBytes += sizes[j]! - a.bytes;
          a.bytes = sizes[j]!;
        }
      }
      if (telemetry && writes.length > 0) observe(telemetry.snapshotBytes, SIZE_BOUNDS, written);
      if (deletes.length > 0) {
        await leaseHeld();
        await store.deleteActors(deletes);
      }
      for (const a of dirty) {
        a.dirty = false;
        // What is stored is now what a failed attempt restores from.
        a.stored = true;
        a.base = undefined;
        a.log = undefined;
      }
      const timerOwners = new Map<number, [string, string][]>();
      for (const a of timers.owners) {
        let list = timerOwners.get(a.partition);
        if (!list) timerOwners.set(a.partition, (list = []));
        list.push([defs[a.def]!.name, a.key]);
      }
      await Promise.all(
        [...parts].map(async ([p, ps]) => {
          const upTo = through(p);
          if (upTo <= ps.lastSeq) return;
          // Held back behind a held key: the watermark trackers as of the last stored position, which
          // is behind (never ahead of) the events read again from there.
          const marks = upTo === ps.through ? ps.pendingMarks : ps.marks;
          const owners = timerOwners.get(p);
          await saveMeta(p, ps, { lastSeq: upTo, savedAt, ...(marks ? { marks } : {}), ...(owners ? { timers: owners } : {}) });
          ps.lastSeq = upTo;
          if (marks) ps.marks = marks;
        }),
      );
      eventsSinceSnapshot = 0;
      lastSnapshotAt = scheduler.now();
      cache.evictIdle(config.evictAfterMs);
      return effects.takeUnreported();
    },

    reject(partition, msg, err, actor) {
      effects.deadMessage(partition, msg, err, actor);
    },

    positions: () => [...parts].map(([partition, ps]) => ({ partition, lastSeq: ps.lastSeq, ...(ps.marks ? { marks: ps.marks } : {}) })),

    size: () => cache.live.size,
  };
}
