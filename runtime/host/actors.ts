import type { z } from "zod";
import { SnapshotError, type ActorDefinition, type Logger, type RoutedEvent, type Scheduler } from "../contract/mod.ts";
import type { SnapshotStore } from "../state/mod.ts";
import type { EventSpan, Telemetry } from "../observe/mod.ts";
import type { TimerEntry, TimerIndex } from "./timers.ts";

/** An actor in memory. */
export interface LiveActor {
  /** Index of its definition in the app's actors. */
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
  /** Bytes of its state as this process last stored it (0: not stored by this process yet). */
  bytes: number;
  base?: Uint8Array;
  /** Since the base, in order: invocations applied, and timers that fired (removed from `timers`). */
  log?: (Invocation | TimerEntry)[];
  /** Held back by a failing event (waiting for a retry): stays in memory, its timers wait. */
  held?: boolean;
}

/** One run of a handler or `onTimer`: what it is called with (besides the actor's state as of the run) and what it sees. */
export interface Invocation {
  /** What the handler is called with: the event's value, or (an `onTimer`, whose `subject` is empty) the timer that fired. */
  input: unknown;
  /** Stream position the effects belong to: rows and view values at or below the stored offsets are already written. */
  pos: number;
  seq: number;
  time: number;
  /** The input message's subject; empty for a timer. */
  subject: string;
  eventTime: number;
  watermark: number;
  /** Processing time the invocation saw (`ctx.now`). */
  now: number;
  /**
   * Output message ids are `<idBase>.<index>`. For a timer, its base; for an event, absent: the
   * base is `<app>.<actor>.<partition>.<seq>`, built only when there are outputs.
   */
  idBase?: string;
  /** State TTL: a successful invocation moves the key's expiry to this event time, if later. */
  expireAt?: number;
  /** The event's W3C trace context: its outputs carry it (the span of its processing, when one is recorded). */
  trace?: string | undefined;
  /** The span of its processing (OpenTelemetry, when an SDK is registered). */
  span?: EventSpan | undefined;
}

/** Stored states load this many at a time. */
const LOAD_CONCURRENCY = 256;

/** A zod error on one line (it becomes a header): `n: Invalid input: expected number, received string; ...`. */
export function issuesOf(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join(".") : "(event)"}: ${i.message}`).join("; ");
}

/**
 * The actors of one host in memory: created fresh or loaded from the store (concurrently, a round
 * at a time), cleared, and evicted when idle and clean.
 */
export function createActorCache(env: {
  defs: readonly ActorDefinition<unknown, unknown>[];
  store: SnapshotStore;
  scheduler: Scheduler;
  timers: TimerIndex;
  log: Logger;
  /** Whether the store held state for the partition when the host started. */
  storedAtStart: (partition: number) => boolean;
  /** Its `stateBytes` follows the actors that leave memory. */
  telemetry?: Telemetry;
}) {
  const { defs, store, scheduler, timers, log } = env;
  const gone = (a: LiveActor) => {
    if (env.telemetry) env.telemetry.stateBytes -= a.bytes;
  };
  /** The cache's key for an actor of a definition (the key itself when the app has one actor definition: no string is built per look-up). */
  const idOf = defs.length === 1 ? (_def: number, key: string) => key : (def: number, key: string) => `${def}\u0000${key}`;
  const live = new Map<string, LiveActor>();
  /** Keys evicted in this run from partitions that had no stored state at start. */
  const evicted = new Set<string>();
  /** Actors whose state was cleared: their stored records are deleted at the next snapshot. */
  const cleared = new Map<string, { actor: string; key: string }>();
  let anyStoredAtStart = false;

  /** A stored state, checked against the actor's state schema. */
  const parseState = (d: ActorDefinition<unknown, unknown>, key: string, state: unknown): unknown => {
    const parsed = d.state.safeParse(state);
    if (!parsed.success) {
      throw new SnapshotError(`stored state of actor ${d.name}/${key} no longer matches its state schema: ${issuesOf(parsed.error)}`);
    }
    return parsed.data;
  };

  const fresh = (def: number, key: string, partition: number): LiveActor => ({
    def,
    key,
    partition,
    state: defs[def]!.initial(key),
    seq: 0,
    dirty: false,
    lastActive: scheduler.now(),
    stored: false,
    bytes: 0,
  });

  const load = async (def: number, key: string, partition: number): Promise<LiveActor> => {
    const d = defs[def]!;
    const rec = await store.loadActor(d.name, key);
    if (!rec) return fresh(def, key, partition);
    const a: LiveActor = { def, key, partition, state: parseState(d, key, rec.state), seq: rec.seq, dirty: false, lastActive: scheduler.now(), stored: true, bytes: 0 };
    if (rec.timers?.length) timers.adopt(a, rec.timers);
    return a;
  };

  const loadAll = async (wanted: readonly [number, string, number][]) => {
    for (let i = 0; i < wanted.length; i += LOAD_CONCURRENCY) {
      const loaded = await Promise.all(wanted.slice(i, i + LOAD_CONCURRENCY).map(([d, k, p]) => load(d, k, p)));
      for (const a of loaded) {
        live.set(idOf(a.def, a.key), a);
        evicted.delete(idOf(a.def, a.key));
      }
    }
  };

  return {
    live,
    cleared,
    parseState,
    get: (def: number, key: string) => live.get(idOf(def, key)),
    has: (a: LiveActor) => live.get(idOf(a.def, a.key)) === a,
    /** A new actor with its initial state, in memory from now on. */
    create(def: number, key: string, partition: number): LiveActor {
      const a = fresh(def, key, partition);
      live.set(idOf(def, key), a);
      return a;
    },
    /** Loads the given actors (at start: those with pending timers, whose timers must fire without waiting for the key's next event). */
    loadAll,
    setAnyStoredAtStart(v: boolean) {
      anyStoredAtStart = v;
    },
    /** Loads, concurrently, the actors of a round that are not in memory but may be in the store. */
    async prefetch(events: readonly RoutedEvent[]) {
      // A fresh run whose partitions had nothing stored, and that has evicted nothing, has nothing to load.
      if (!anyStoredAtStart && evicted.size === 0) return;
      const wanted = new Map<string, [number, string, number]>();
      for (const ev of events) {
        const id = idOf(ev[3], ev[4]);
        if (live.has(id) || wanted.has(id) || cleared.has(id)) continue;
        if (env.storedAtStart(ev[5]) || evicted.has(id)) wanted.set(id, [ev[3], ev[4], ev[5]]);
      }
      await loadAll([...wanted.values()]);
    },
    /** Lets the actors of these partitions go (handed to another owner, their states stored). */
    drop(partitions: ReadonlySet<number>) {
      for (const [id, a] of live) {
        if (!partitions.has(a.partition)) continue;
        live.delete(id);
        gone(a);
        timers.drop(a);
      }
    },
    /** Forgets an actor's state: out of memory now, its stored record deleted at the next snapshot. */
    clear(a: LiveActor) {
      const id = idOf(a.def, a.key);
      live.delete(id);
      gone(a);
      timers.drop(a);
      cleared.set(id, { actor: defs[a.def]!.name, key: a.key });
    },
    /** Cleared actors whose records the next snapshot deletes (those not created again since). */
    takeCleared(): { actor: string; key: string }[] {
      const out = [...cleared].filter(([id]) => !live.has(id)).map(([, v]) => v);
      cleared.clear();
      return out;
    },
    /** Drops clean actors idle past `afterMs`; their stored state is current. */
    evictIdle(afterMs: number) {
      const cutoff = scheduler.now() - afterMs;
      let n = 0;
      for (const [id, a] of live) {
        if (a.dirty || a.held || a.lastActive > cutoff || a.timers?.length) continue;
        live.delete(id);
        gone(a);
        if (!env.storedAtStart(a.partition)) evicted.add(id);
        n++;
      }
      if (n > 0) log.debug(`evicted ${n} idle actors`);
    },
  };
}

export type ActorCache = ReturnType<typeof createActorCache>;
