import {
  describeError,
  OutputRejectedError,
  RefusedMessageError,
  retrying,
  type ActorDefinition,
  type AppDefinition,
  type Logger,
  type Row,
  type Scheduler,
  type Timer,
  type WeirError,
} from "../contract/mod.ts";
import type { DeadLetters, Publisher } from "../output/mod.ts";
import { DURATION_BOUNDS, observe, type Telemetry } from "../observe/mod.ts";
import { msgpackCodec, TRACE_HEADER } from "../route/mod.ts";
import { RowRejectedError, RowsRejectedError, type RejectedRow, type SqlSink } from "../sinks/mod.ts";
import type { ViewStore } from "../state/mod.ts";
import type { Invocation, LiveActor } from "./actors.ts";
import type { HandlerContext } from "./context.ts";

/** Unacked publishes a host lets run ahead before it waits for them. */
const MAX_PENDING_PUBLISHES = 16_384;
/** Buffered sink rows that make a round flush before the next snapshot. */
const FLUSH_ROWS = 20_000;

export interface EffectsEnv {
  app: AppDefinition;
  defs: readonly ActorDefinition<unknown, unknown>[];
  publisher: Publisher;
  dlq: DeadLetters;
  log: Logger;
  scheduler: Scheduler;
  /** Where `ctx.upsert` rows go (required when the app declares tables). */
  sink?: SqlSink;
  /** Where `ctx.view` values go (required when the app declares views). */
  views?: ViewStore;
  /** Prepended to every output subject (a replay namespace's `<ns>.`). */
  outputPrefix: string;
  /** Where sink batch durations are counted. */
  telemetry?: Telemetry;
  /**
   * Per partition, the position up to which outputs and dead letters were already published (a
   * replay into the live namespace): those of positions at or below it are not sent again.
   */
  fence?: ReadonlyMap<number, number>;
  /**
   * `[partition, epoch]` of the partition leases this host holds: the sink refuses batches of an
   * owner that lost a partition (see `SinkBatch.epochs`). Absent for runs without leases (replays).
   */
  epochs?: ReadonlyMap<number, number>;
  /**
   * Throws when a partition has moved to a newer owner (a fenced write of each partition's meta):
   * called before every flush, so view values (and the actor states written after a flush) of a
   * lost partition are not stored.
   */
  guard?: () => Promise<void>;
  /** Resolves once the leases are known held (see `ActorHostOptions.leaseHeld`): awaited before each write. */
  leaseHeld?: () => Promise<void>;
}

/**
 * A host's effects: outputs and dead letters published as they happen (pipelined, awaited before
 * a snapshot), rows and view values buffered and written with the positions they reach.
 */
export function createEffects(env: EffectsEnv) {
  const { app, defs, publisher, dlq, log } = env;
  const sink = app.tables ? env.sink : undefined;
  const views = app.views?.length ? env.views : undefined;

  /** Publishes not yet acked (outputs and dead letters), and the first failure among them. */
  let inflight: Promise<unknown>[] = [];
  let publishFailure: unknown;
  /** Dead letters sent outside a round (refused rows and outputs), reported with the next one. */
  let unreported = 0;

  const pendingRows = new Map<string, Row[]>();
  /**
   * Where pending rows came from, one entry per invocation that upserted (its actor, input sequence,
   * subject, position, and its rows): read only when the database refuses rows.
   */
  const rowOrigins: [LiveActor, number, string, number, [string, Row][]][] = [];
  let pendingRowCount = 0;
  const pendingViews = new Map<string, [string, string, unknown]>();
  const sinkOffsets = new Map<number, number>();
  const viewOffsets = new Map<number, number>();

  /** True when messages of this position were published before (replays into live only). */
  const fenced = (partition: number, pos: number) => env.fence !== undefined && pos <= (env.fence.get(partition) ?? 0);

  const track = (p: Promise<unknown>) => {
    inflight.push(
      p.catch((err) => {
        publishFailure ??= err;
      }),
    );
  };
  const origin = (a: LiveActor, seq: number, subject: string) => ({ actor: defs[a.def]!.name, subject, seq, partition: a.partition, key: a.key });

  /** An output the broker refuses for its content is a dead letter of its own; any other failure stops the app. */
  const trackOutput = (p: Promise<void>, a: LiveActor, at: Invocation, subject: string, data: Uint8Array, msgID: string) => {
    inflight.push(
      p.catch((err) => {
        if (!(err instanceof RefusedMessageError)) {
          publishFailure ??= err;
          return;
        }
        const o = origin(a, at.seq, at.subject);
        const e = new OutputRejectedError(`the output of ${o.actor}/${a.key} to ${subject} was refused: ${err.message}`);
        unreported++;
        track(dlq.output(o, subject, msgpackCodec.decode(data), msgID, e));
      }),
    );
  };

  const deadLetterRows = async (rejected: readonly RejectedRow[]) => {
    const from = new Map<Row, (typeof rowOrigins)[number]>();
    for (const o of rowOrigins) for (const [, row] of o[4]) from.set(row, o);
    const sent: Promise<void>[] = [];
    for (const { table, row, reason } of rejected) {
      const [a, seq, subject, pos] = from.get(row)!;
      unreported++;
      if (fenced(a.partition, pos)) continue;
      const o = origin(a, seq, subject);
      sent.push(dlq.row(o, table, row, new RowRejectedError(`table ${table} refused the row of ${o.actor}/${a.key}: ${reason}`)));
    }
    await Promise.all(sent);
  };

  return {
    fenced,
    /** Forgets a partition handed to another owner (after a snapshot: nothing of it is pending). */
    forget(partition: number) {
      sinkOffsets.delete(partition);
      viewOffsets.delete(partition);
    },
    /** Loads how far the sink and the views have written for these partitions. */
    async init(partitions: readonly number[]) {
      if (app.tables && !env.sink) throw new Error(`app ${app.name} declares tables but the host has no SQL sink`);
      if (app.views?.length && !env.views) throw new Error(`app ${app.name} declares views but the host has no view store`);
      if (sink) {
        await sink.prepare(app.tables!);
        // The claim: from here on, batches of the partitions' earlier owners are refused.
        if (env.epochs) await retrying(() => sink.write({ rows: new Map(), offsets: [], epochs: [...env.epochs!] }), { scheduler: env.scheduler });
        for (const [p, seq] of await sink.offsets()) if (partitions.includes(p)) sinkOffsets.set(p, seq);
      }
      if (env.views) for (const [p, seq] of await env.views.offsets(partitions)) viewOffsets.set(p, seq);
    },

    /** Takes effect for a successful invocation: its outputs, rows and view values. */
    apply(a: LiveActor, at: Invocation, ctx: HandlerContext) {
      if (ctx.rowOps && at.pos > (sinkOffsets.get(a.partition) ?? 0)) {
        for (const [table, row] of ctx.rowOps) {
          let list = pendingRows.get(table);
          if (!list) pendingRows.set(table, (list = []));
          list.push(row);
        }
        pendingRowCount += ctx.rowOps.length;
        rowOrigins.push([a, at.seq, at.subject, at.pos, ctx.rowOps]);
      }
      if (ctx.viewOps && at.pos > (viewOffsets.get(a.partition) ?? 0)) {
        for (const [name, key, v] of ctx.viewOps) pendingViews.set(`${name}\u0000${key}`, [name, key, v]);
      }
      const outputs = ctx.outputs;
      if (outputs.length > 0 && !fenced(a.partition, at.pos)) {
        const base = at.idBase ?? `${env.app.name}.${env.defs[a.def]!.name}.${a.partition}.${at.seq}`;
        for (let i = 0; i < outputs.length; i++) {
          const [to, data] = outputs[i]!;
          const msgID = `${base}.${i}`;
          trackOutput(publisher.publish(env.outputPrefix + to, data, at.trace ? { msgID, headers: { [TRACE_HEADER]: at.trace } } : { msgID }), a, at, to, data, msgID);
        }
      }
    },

    /** Dead-letters a message of a partition's stream that reached no actor (undecodable, without a key, ...). */
    deadMessage(partition: number, msg: { subject: string; seq: number; data: Uint8Array; contentType?: string; trace?: string }, err: WeirError, actor?: string) {
      if (!fenced(partition, msg.seq)) track(dlq.message({ ...msg, partition }, err, actor));
    },

    /** Dead-letters an event an actor could not apply. */
    deadEvent(a: LiveActor, seq: number, subject: string, value: unknown, err: WeirError, trace?: string) {
      if (!fenced(a.partition, seq)) track(dlq.event({ ...origin(a, seq, subject), ...(trace ? { trace } : {}) }, value, err));
    },

    /** Dead-letters a timer whose `onTimer` failed, at the position `pos` it fired. */
    deadTimer(a: LiveActor, pos: number, timer: Timer, id: string, err: WeirError) {
      if (!fenced(a.partition, pos)) track(dlq.timer(origin(a, a.seq, ""), timer, id, err));
    },

    /** Enough rows buffered, or too many publishes in flight: the round waits for them. */
    async relieve(through: () => Iterable<[number, number]>) {
      if (pendingRowCount >= FLUSH_ROWS) await this.flush(through());
      // Outputs stay in flight while the next rounds run (the broker works while we do); only
      // their number is bounded here, and a snapshot waits for all of them.
      if (inflight.length >= MAX_PENDING_PUBLISHES) await this.settle();
    },

    /** Waits until every publish so far is stored; throws the first failure. */
    async settle() {
      // Dead letters of refused outputs join while the earlier publishes are awaited.
      while (inflight.length > 0) {
        const waiting = inflight;
        inflight = [];
        await Promise.all(waiting);
      }
      if (publishFailure !== undefined) throw publishFailure;
    },

    /**
     * Writes buffered rows (one sink transaction, with every partition's position `through`) and
     * view values. Retries what the database or the broker refuse for a while; then the error stops the app.
     */
    async flush(through: Iterable<[number, number]>) {
      const positions = [...through];
      await env.guard?.();
      if (sink) {
        const offsets: [number, number][] = positions.filter(([p, seq]) => seq > (sinkOffsets.get(p) ?? 0));
        if (pendingRowCount > 0 || offsets.length > 0) {
          const batch = { rows: new Map(pendingRows), offsets, ...(env.epochs ? { epochs: [...env.epochs] } : {}) };
          for (;;) {
            try {
              await env.leaseHeld?.();
              const t0 = performance.now();
              await retrying(() => sink.write(batch), { scheduler: env.scheduler, onRetry: (err) => log.warn(`sink write failed (${describeError(err)}); retrying`) });
              if (env.telemetry) observe(env.telemetry.sink, DURATION_BOUNDS, (performance.now() - t0) / 1000);
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
      if (views) {
        const offsets: [number, number][] = positions.filter(([p, seq]) => seq > (viewOffsets.get(p) ?? 0));
        if (pendingViews.size > 0 || offsets.length > 0) {
          await env.leaseHeld?.();
          await views.write([...pendingViews.values()], offsets);
          for (const [p, seq] of offsets) viewOffsets.set(p, seq);
        }
        pendingViews.clear();
      }
    },

    /** Dead letters sent outside rounds since the last call. */
    takeUnreported(): number {
      const n = unreported;
      unreported = 0;
      return n;
    },
  };
}

export type Effects = ReturnType<typeof createEffects>;
