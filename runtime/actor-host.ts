import type { ActorDefinition, AppDefinition, Context, Logger } from "./contract.ts";
import type { Clock } from "./clock.ts";
import { msgpackCodec } from "./codec.ts";
import { describeError, HandlerError, SnapshotError, UndeclaredOutputError, ValidationError, type WeirError } from "./errors.ts";
import { dlqHeaders, dlqMsgId, type Publisher } from "./publisher.ts";
import { SNAPSHOT_VERSION, type ActorWrite, type SnapshotStore } from "./snapshot-store.ts";
import { subjectMatches } from "./subjects.ts";

/**
 * One input event after routing: `[seq, timeMs, subject, actorIndex, key, partition, value]`.
 * A tuple, not an object, because thousands cross to a worker per `postMessage`.
 */
export type RoutedEvent = [number, number, string, number, string, number, unknown];

/** What the source hands one worker: its events of one fetch, and the stream position it covers. */
export interface Round {
  id: number;
  /** Every message up to this stream sequence has been routed; partitions may advance to it. */
  through: number;
  events: RoutedEvent[];
}

export interface RoundResult {
  id: number;
  processed: number;
  skipped: number;
  emitted: number;
  dlq: number;
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
   * progress; evicts idle clean actors afterwards. Throws if a publish failed.
   */
  snapshot(): Promise<void>;
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
}

interface LiveActor {
  def: number;
  key: string;
  partition: number;
  state: unknown;
  /** Sequence of the last event applied to this actor. */
  seq: number;
  dirty: boolean;
  lastActive: number;
}

interface PendingOutput {
  subject: string;
  value: unknown;
}

const DEFAULT_EVERY_EVENTS = 100_000;
const DEFAULT_EVERY_MS = 1_000;
const DEFAULT_EVICT_AFTER_MS = 10 * 60_000;
const LOAD_CONCURRENCY = 256;
/** Unacked publishes a host lets run ahead before it waits for them. */
const MAX_PENDING_PUBLISHES = 16_384;

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
  // Per actor: emit subject -> declared? Emits repeat a few subject shapes, so matching is cached.
  const declared = defs.map(() => new Map<string, boolean>());
  const isDeclared = (def: number, subject: string): boolean => {
    const cache = declared[def]!;
    let ok = cache.get(subject);
    if (ok === undefined) {
      ok = defs[def]!.outputs.some((o) => subjectMatches(o, subject));
      if (cache.size >= 10_000) cache.clear();
      cache.set(subject, ok);
    }
    return ok;
  };
  const everyEvents = app.snapshot?.everyEvents ?? DEFAULT_EVERY_EVENTS;
  const everyMs = app.snapshot?.everyMs ?? DEFAULT_EVERY_MS;
  const evictAfterMs = app.evictAfterMs ?? DEFAULT_EVICT_AFTER_MS;
  const parts = new Map<number, PartitionState>();
  const live = new Map<string, LiveActor>();
  /** Keys evicted in this run from partitions that had no stored state at start. */
  const evicted = new Set<string>();
  let anyStoredAtStart = false;
  let eventsSinceSnapshot = 0;
  let lastSnapshotAt = clock.now();

  const idOf = (def: number, key: string) => `${def}\u0000${key}`;

  const loadActor = async (def: number, key: string, partition: number): Promise<LiveActor> => {
    const d = defs[def]!;
    const rec = await store.loadActor(d.name, key);
    if (!rec) return fresh(def, key, partition);
    const parsed = d.state.safeParse(rec.state);
    if (!parsed.success) {
      throw new SnapshotError(
        `stored state of actor ${d.name}/${key} no longer matches its state schema: ${parsed.error.message}`,
      );
    }
    return { def, key, partition, state: parsed.data, seq: rec.seq, dirty: false, lastActive: clock.now() };
  };

  const fresh = (def: number, key: string, partition: number): LiveActor => ({
    def,
    key,
    partition,
    state: defs[def]!.initial(key),
    seq: 0,
    dirty: false,
    lastActive: clock.now(),
  });

  /** Loads, concurrently, the actors of a round that are not in memory but may be in the store. */
  const prefetch = async (events: RoutedEvent[]) => {
    // A fresh run whose partitions had nothing stored, and that has evicted nothing, has nothing to load.
    if (!anyStoredAtStart && evicted.size === 0) return;
    const wanted = new Map<string, [number, string, number]>();
    for (const ev of events) {
      const id = idOf(ev[3], ev[4]);
      if (live.has(id) || wanted.has(id)) continue;
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
  const settle = async () => {
    const waiting = inflight;
    inflight = [];
    await Promise.all(waiting);
    if (publishFailure !== undefined) throw publishFailure;
  };

  /** Drops clean actors idle past `evictAfterMs`; their stored state is current. */
  const evictIdle = () => {
    const cutoff = clock.now() - evictAfterMs;
    let n = 0;
    for (const [id, a] of live) {
      if (a.dirty || a.lastActive > cutoff) continue;
      live.delete(id);
      if (!parts.get(a.partition)!.storedAtStart) evicted.add(id);
      n++;
    }
    if (n > 0) log.debug(`evicted ${n} idle actors`);
  };

  const deadLetter = (ev: RoutedEvent, err: WeirError) => {
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

  return {
    async init() {
      const metas = await Promise.all(opts.partitions.map((p) => store.loadMeta(p)));
      opts.partitions.forEach((p, i) => {
        const m = metas[i];
        const lastSeq = m?.lastSeq ?? 0;
        parts.set(p, { lastSeq, through: lastSeq, storedAtStart: m !== null, hasMeta: m !== null });
      });
      anyStoredAtStart = metas.some((m) => m !== null);
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
        if (!actor) {
          actor = fresh(defIdx, key, partition);
          live.set(id, actor);
        }
        if (seq <= actor.seq) {
          // Already applied and stored before a restart: its effects are out, skip it.
          result.skipped++;
          continue;
        }
        const def = defs[defIdx]!;
        actor.lastActive = now;
        const parsed = def.event.safeParse(value);
        if (!parsed.success) {
          deadLetter(ev, new ValidationError(`event does not match the input schema of ${def.name}: ${parsed.error.message}`));
          result.dlq++;
          actor.seq = seq;
          continue;
        }
        const outputs: PendingOutput[] = [];
        const ctx: Context = {
          key,
          partition,
          seq,
          time,
          subject,
          log,
          emit(to, v) {
            if (!isDeclared(defIdx, to)) {
              throw new UndeclaredOutputError(
                `actor ${def.name} emitted to "${to}", which is not among its outputs (${def.outputs.join(", ") || "none"})`,
              );
            }
            outputs.push({ subject: to, value: v });
          },
        };
        let next: unknown;
        try {
          const r = def.handle(actor.state, parsed.data, ctx);
          next = r instanceof Promise ? await r : r;
        } catch (err) {
          const e =
            err instanceof UndeclaredOutputError
              ? err
              : new HandlerError(`handler of ${def.name} failed: ${describeError(err)}`, { cause: err });
          deadLetter(ev, e);
          result.dlq++;
          actor.seq = seq;
          continue;
        }
        actor.state = next;
        actor.seq = seq;
        actor.dirty = true;
        for (let i = 0; i < outputs.length; i++) {
          const o = outputs[i]!;
          track(
            publisher.publish(o.subject, msgpackCodec.encode(o.value), {
              msgID: `${app.name}.${def.name}.${partition}.${seq}.${i}`,
            }),
          );
        }
        result.emitted += outputs.length;
        result.processed++;
      }
      for (const p of parts.values()) if (round.through > p.through) p.through = round.through;
      // Outputs stay in flight while the next rounds run (the broker works while we do); only
      // their number is bounded here, and a snapshot waits for all of them.
      if (inflight.length >= MAX_PENDING_PUBLISHES) await settle();
      eventsSinceSnapshot += round.events.length;
      return result;
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
      // server has not stored.
      await settle();
      const writes: ActorWrite[] = [];
      const dirty: LiveActor[] = [];
      for (const a of live.values()) {
        if (!a.dirty) continue;
        dirty.push(a);
        writes.push({ actor: defs[a.def]!.name, key: a.key, record: { v: SNAPSHOT_VERSION, seq: a.seq, state: a.state } });
      }
      const savedAt = clock.now();
      // A partition's meta must exist before its first state does: on restart, "no meta" means
      // "nothing stored", which lets a fresh partition skip store look-ups for new keys.
      const needMarker = new Set<number>();
      for (const a of dirty) if (!parts.get(a.partition)!.hasMeta) needMarker.add(a.partition);
      await Promise.all(
        [...needMarker].map(async (p) => {
          const ps = parts.get(p)!;
          await store.saveMeta(p, { v: SNAPSHOT_VERSION, lastSeq: ps.lastSeq, savedAt });
          ps.hasMeta = true;
        }),
      );
      await store.saveActors(writes);
      for (const a of dirty) a.dirty = false;
      await Promise.all(
        [...parts].map(async ([p, ps]) => {
          if (ps.through <= ps.lastSeq) return;
          const through = ps.through;
          await store.saveMeta(p, { v: SNAPSHOT_VERSION, lastSeq: through, savedAt });
          ps.lastSeq = through;
          ps.hasMeta = true;
        }),
      );
      eventsSinceSnapshot = 0;
      lastSnapshotAt = clock.now();
      evictIdle();
    },

    size: () => live.size,
  };
}
