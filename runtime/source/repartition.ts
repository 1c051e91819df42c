import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { concatMap } from "rxjs";
import { describeError, type AppDefinition, type Logger, type Scheduler } from "../contract/mod.ts";
import type { DeadLetters, Publisher } from "../output/mod.ts";
import { CONTENT_TYPE_HEADER, createRouter, ORIGIN_HEADER, TIME_HEADER, TRACE_HEADER, type SchemaChecks } from "../route/mod.ts";
import type { SnapshotStore } from "../state/mod.ts";
import { createCredit } from "./credit.ts";
import { pullSource } from "./source.ts";

/** Publish condition of JetStream: refused unless the stream's last sequence is this. */
const EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence";

export interface RepartitionOptions {
  app: AppDefinition;
  partitions: number;
  /** The stream producers publish to: the app's input stream, or one weir does not control. */
  stream: string;
  /** A literal subject to read `stream` through (see `AppStreams.filter`). */
  filter?: string;
  /** The app's partitioned input prefix: partition p's copies go to `<prefix>.<p>.<subject>`. */
  prefix: string;
  /** Each partition's input stream, by partition. */
  partitionStreams: readonly string[];
  /** Where the step keeps its position in `stream` (under the stream's name). */
  store: Pick<SnapshotStore, "loadPosition" | "savePosition">;
  publisher: Publisher;
  /** Messages that reach no actor (undecodable, without a key, against their schema) go here, once. */
  dlq: DeadLetters;
  schemas?: SchemaChecks;
  maxInFlight: number;
  maxFetch: number;
  scheduler: Scheduler;
  log: Logger;
  /** After each batch whose copies are stored: the position reached in `stream`, and the messages left after it. */
  onProgress?: (seq: number, pending: number) => void;
}

export interface Repartition {
  /** The first sequence of `stream` this run of the step read (its stored position + 1). */
  readonly startSeq: number;
  /** Rejects when reading, a publish or the position's write failed (the caller starts it again). */
  readonly failed: Promise<never>;
  /** Stops reading and waits for the batch in hand to be stored. */
  stop(): Promise<void>;
}

/**
 * How far back the step looks for its newest copy among messages producers published straight to a
 * partition. Past it, the stored position decides what is copied again (and the partition stream's
 * dedup window absorbs copies of the batch that was in hand).
 */
const TAIL_SCAN_LIMIT = 2_000;

/**
 * The newest copy in a partition stream and what it copies: `[last sequence, origin sequence in
 * stream]`; without `look`, only the last sequence (nothing after the step's position can have
 * been copied).
 */
async function tailOf(jsm: JetStreamManager, partitionStream: string, origin: string, look: boolean): Promise<[number, number]> {
  const { first_seq: first, last_seq: last } = (await jsm.streams.info(partitionStream)).state;
  if (!look) return [last, 0];
  // Messages published straight to the partition (by partitioning producers) carry no origin: look further back.
  for (let seq = last; seq >= Math.max(1, first, last - TAIL_SCAN_LIMIT); seq--) {
    const m = await jsm.streams.getMessage(partitionStream, { seq }).catch(() => null);
    const o = m?.header.get(ORIGIN_HEADER);
    if (o && o.startsWith(`${origin}:`)) return [last, Number(o.slice(origin.length + 1))];
  }
  return [last, 0];
}

/**
 * The repartition step: reads a stream of unpartitioned events once (from its stored position),
 * decodes each message, reads every interested actor's key, and copies the message to the stream of
 * each distinct partition its keys fall in (`<prefix>.<p>.<subject>`, with the original's bytes,
 * content type and stored time). Messages no actor can take are dead-lettered here, not copied.
 *
 * Exactly once, in order, without a window: each copy is published on the condition that its
 * partition stream's last sequence is the one the step expects (`Nats-Expected-Last-Sequence`),
 * so a copy that failed fails every later one of its partition too; a step that starts again
 * (after a crash, or in another instance) reads each partition stream's newest copy and skips what
 * it already holds. The position is stored only once a batch's copies and dead letters are.
 *
 * @example
 * const step = await startRepartition(nc, jsm, { app, partitions: 32, stream: "weir_shop_in", prefix: "weir.in.shop", partitionStreams, store, publisher, dlq, maxInFlight: 8192, maxFetch: 512, scheduler, log });
 */
export async function startRepartition(nc: NatsConnection, jsm: JetStreamManager, opts: RepartitionOptions): Promise<Repartition> {
  const { app, partitions, stream, publisher, dlq, store, log } = opts;
  const startSeq = (await store.loadPosition(stream)) + 1;
  // Copies past the position exist only if a run stopped between storing a batch's copies and its
  // position: there are none to look for while the input holds nothing past it.
  const look = (await jsm.streams.info(stream)).state.last_seq >= startSeq;
  const tails = await Promise.all(opts.partitionStreams.map((s) => tailOf(jsm, s, stream, look)));
  /** The last sequence of each partition stream, as the step's next copy there expects it. */
  const expected = tails.map(([last]) => last);
  /** The newest message of `stream` each partition holds a copy of. */
  const copied = tails.map(([, origin]) => origin);
  const router = createRouter(app, partitions, 1, opts.schemas ? { schemas: opts.schemas } : {});
  const credit = createCredit(opts.maxInFlight);
  let fail!: (err: unknown) => void;
  const failed = new Promise<never>((_, rej) => (fail = rej));
  failed.catch(() => {});
  let inHand: Promise<unknown> = Promise.resolve();

  const subscription = pullSource(nc, {
    stream,
    startSeq,
    ...(opts.filter ? { filter: opts.filter } : {}),
    credit,
    maxFetch: opts.maxFetch,
    scheduler: opts.scheduler,
    onRetry: (err) => log.warn(`repartitioning: reading ${stream} failed (${describeError(err)}); retrying`),
  })
    .pipe(
      concatMap(async (msgs) => {
        const work = (async () => {
          if (opts.schemas) await opts.schemas.prepare(msgs);
          const batch = router.route(msgs);
          const writes: Promise<void>[] = batch.rejected.map(({ msg, subject, error, actor }) => {
            const contentType = msg.headers?.get(CONTENT_TYPE_HEADER);
            const trace = msg.headers?.get(TRACE_HEADER);
            return dlq.message({ subject, seq: msg.seq, data: msg.data, ...(contentType ? { contentType } : {}), ...(trace ? { trace } : {}) }, error, actor);
          });
          let i = 0;
          let seq = -1;
          const sent = new Set<number>();
          for (const [evSeq, time, subject, , , p] of batch.perWorker[0]!) {
            if (evSeq !== seq) {
              seq = evSeq;
              sent.clear();
              while (msgs[i]!.seq !== seq) i++;
            }
            // Several actors of one message in one partition: one copy.
            if (sent.has(p)) continue;
            sent.add(p);
            if (seq <= copied[p]!) continue;
            const m = msgs[i]!;
            const contentType = m.headers?.get(CONTENT_TYPE_HEADER);
            const trace = m.headers?.get(TRACE_HEADER);
            const headers: Record<string, string> = {
              [ORIGIN_HEADER]: `${stream}:${seq}`,
              [TIME_HEADER]: String(time),
              [EXPECTED_LAST_SEQ]: String(expected[p]),
              ...(contentType ? { [CONTENT_TYPE_HEADER]: contentType } : {}),
              ...(trace ? { [TRACE_HEADER]: trace } : {}),
            };
            expected[p]!++;
            copied[p] = seq;
            writes.push(publisher.publish(`${opts.prefix}.${p}.${subject}`, m.data, { msgID: `${stream}:${seq}:${p}`, headers }));
          }
          await Promise.all(writes);
          await store.savePosition(stream, batch.through);
          opts.onProgress?.(batch.through, msgs[msgs.length - 1]!.info.pending);
        })();
        inHand = work.catch(() => {});
        try {
          await work;
        } finally {
          credit.release(msgs.length);
        }
      }),
    )
    .subscribe({ error: fail, complete: () => fail(new Error(`repartitioning: reading ${stream} ended`)) });

  return {
    startSeq,
    failed,
    async stop() {
      subscription.unsubscribe();
      credit.close();
      await inHand;
    },
  };
}
