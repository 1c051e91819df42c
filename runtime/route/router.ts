import { DecodeError, EventTimeError, InvalidKeyError, MissingKeyError, MAX_KEY_BYTES, WrongPartitionError, type AppDefinition, type RoutedEvent, type SourceMsg, type WeirError } from "../contract/mod.ts";
import { eventTimeReader, keyReader } from "./readers.ts";
import { CONTENT_TYPE_HEADER, decodePayload } from "./codec.ts";
import { partitionOf } from "./partition.ts";
import type { SchemaChecks } from "./schemas.ts";
import { actorsReading, keyFits } from "./targets.ts";
import { createWatermarks, type Watermarks } from "./watermark.ts";

/** A message that cannot reach any actor, with the reason. */
export interface Rejected {
  msg: SourceMsg;
  /** The subject the producer meant (a partition stream's subject without its prefix). */
  subject: string;
  error: WeirError;
  actor?: string;
}

export interface RoutedBatch {
  /** Events per worker, in stream order. */
  perWorker: RoutedEvent[][];
  rejected: Rejected[];
  /** Highest stream sequence in the batch. */
  through: number;
  /** Watermark after the batch. */
  watermark: number;
  /** Watermark tracker state after the batch (as of `through`). */
  marks: number[];
}

/** Header of a copy the repartition step made: `<stream>:<sequence>` of the message it copies. */
export const ORIGIN_HEADER = "Weir-Origin";
/** Header of a copy the repartition step made: the original's stored time, ms (its event time when the app reads none). */
export const TIME_HEADER = "Weir-Time";
/** W3C trace context of an input event: carried to its partition's copy, the outputs and the dead letters it causes. */
export const TRACE_HEADER = "traceparent";

/** Where a router's messages come from: one partition's own stream, whose subjects are `<prefix>.<partition>.<subject>`. */
export interface PartitionInput {
  partition: number;
  /** The app's partitioned input prefix (`appNames(app).inputPrefix`). */
  prefix: string;
}

export interface Router {
  route(msgs: readonly SourceMsg[]): RoutedBatch;
}

/** The i-th of the `owned` partitions belongs to worker i mod W. */
const workerOfOwned = (i: number, workers: number) => i % workers;

/** The worker of each partition (see {@link partitionsOfWorker}); -1 for a partition another instance owns. */
function workerOfPartition(owned: readonly number[], workers: number, partitions: number): Int32Array {
  const out = new Int32Array(partitions).fill(-1);
  owned.forEach((p, i) => (out[p] = workerOfOwned(i, workers)));
  return out;
}

/** The partitions of one worker: the i-th of the `owned` partitions belongs to worker i mod W. */
export function partitionsOfWorker(worker: number, workers: number, owned: readonly number[]): number[] {
  return owned.filter((_, i) => workerOfOwned(i, workers) === worker);
}

/**
 * Decode and route stage: decodes each message once, checks it against the registered schema its
 * `Weir-Schema-Id` header names (when `schemas` is given), reads each interested actor's key, and
 * assigns the event to the worker that owns `partitionOf(key, partitions)` (see
 * {@link workerOfPartition}). Events of partitions this instance does not own are left out, but
 * their event times still move the watermark, so every instance sees the watermark one instance
 * would. A message that reaches no actor is rejected by one instance only: the owner of partition
 * `seq mod partitions`.
 *
 * @example
 * const router = createRouter(app, 32, 4);
 * const { perWorker, rejected } = router.route(msgs);
 */
export function createRouter(
  app: AppDefinition,
  partitions: number,
  workers: number,
  opts: {
    schemas?: SchemaChecks;
    watermarks?: Watermarks;
    owned?: readonly number[];
    /**
     * The messages are one partition's (read from its own stream): an event goes only to the actors
     * whose key is in that partition (the other actors of the message get theirs from their own
     * partition's copy), and the watermark is that partition's own.
     */
    input?: PartitionInput;
  } = {},
): Router {
  const { schemas, input } = opts;
  const workerOf = workerOfPartition(input ? [input.partition] : (opts.owned ?? Array.from({ length: partitions }, (_, p) => p)), workers, partitions);
  const ownsAll = workerOf.every((w) => w >= 0);
  /** This instance reports the messages no actor can take whose sequence falls in a partition it owns. */
  const mine = (r: Rejected) => workerOf[r.msg.seq % partitions]! >= 0;
  /** Subjects in a partition stream: the prefix before the subject the producer meant. */
  const cut = input ? `${input.prefix}.${input.partition}.`.length : 0;
  const marks = opts.watermarks ?? createWatermarks(partitions, app.watermark);
  const readers = app.actors.map((a) => keyReader(a.key));
  const timeOf = app.eventTime ? eventTimeReader(app.eventTime) : undefined;
  const touched: number[] = [];
  const actorsFor = actorsReading(app);

  return {
    route(msgs) {
      const perWorker: RoutedEvent[][] = Array.from({ length: workers }, () => []);
      const rejected: Rejected[] = [];
      let through = 0;
      let reporting = rejected.length;
      for (const m of msgs) {
        const seq = m.seq;
        if (seq > through) through = seq;
        const subject = cut ? m.subject.slice(cut) : m.subject;
        const interested = actorsFor(subject);
        if (interested.length === 0) continue;
        // A copy the repartition step made: what cannot reach an actor was dead-lettered there, once.
        const copy = input !== undefined && m.headers?.get(ORIGIN_HEADER) ? m : undefined;
        let value: unknown;
        try {
          value = decodePayload(m.data, m.headers?.get(CONTENT_TYPE_HEADER) || undefined);
        } catch (err) {
          if (!copy) rejected.push({ msg: m, subject, error: err instanceof DecodeError ? err : new DecodeError(String(err)) });
          reporting = rejected.length;
          continue;
        }
        // A copy was checked by the step; a message published straight to a partition is checked here.
        let problem: WeirError | undefined = copy ? undefined : schemas?.check(m, value);
        const stored = copy?.headers?.get(TIME_HEADER);
        const time = stored ? Number(stored) : Math.floor(m.info.timestampNanos / 1e6);
        let eventTime = time;
        if (timeOf && !problem) {
          const t = timeOf(value, subject);
          if (t === undefined) problem = new EventTimeError(`no event time: ${describeTime(app.eventTime!)} is missing or not a time`);
          else eventTime = t;
        }
        if (problem && copy) continue;
        // Each event carries the watermark from before it: "late" means at or below it.
        const before = marks.current();
        // Read once per message, not per actor that reads it.
        const trace = m.headers?.get(TRACE_HEADER);
        touched.length = 0;
        /** The lowest partition among the message's keys (where a message with copies in several is reported). */
        let lowest = partitions;
        for (const i of interested) {
          const key = readers[i]!(value, subject);
          const actor = app.actors[i]!;
          if (key === undefined) {
            if (!problem) {
              rejected.push({
                msg: m,
                subject,
                actor: actor.name,
                error: new MissingKeyError(`no key for actor ${actor.name}: ${describeKey(actor.key)} is missing or empty`),
              });
            }
            continue;
          }
          if (!keyFits(key)) {
            if (!problem) {
              rejected.push({
                msg: m,
                subject,
                actor: actor.name,
                error: new InvalidKeyError(`key for actor ${actor.name} is ${Buffer.byteLength(key)} bytes long; keys are at most ${MAX_KEY_BYTES} bytes`),
              });
            }
            continue;
          }
          const p = partitionOf(key, partitions);
          touched.push(p);
          if (p < lowest) lowest = p;
          if (problem) continue;
          const w = workerOf[p]!;
          if (w >= 0) perWorker[w]!.push(trace ? [seq, time, subject, i, key, p, value, eventTime, before, trace] : [seq, time, subject, i, key, p, value, eventTime, before]);
        }
        if (problem) rejected.push({ msg: m, subject, error: problem });
        else if (input && !copy && touched.length > 0 && !touched.includes(input.partition)) {
          // Published here by a producer that partitions otherwise: dead-lettered, not dropped.
          const where = [...new Set(touched)].sort((x, y) => x - y).join(", ");
          rejected.push({ msg: m, subject, error: new WrongPartitionError(`published to partition ${input.partition}, but its keys are in partition ${where} of ${partitions} (the producer partitions with another count or hash)`) });
          lowest = input.partition;
        }
        if (input) {
          if (!problem) marks.observe(input.partition, eventTime);
          // Of a message with copies in several partitions, the one in the lowest reports it.
          if (copy || (touched.length > 0 && lowest !== input.partition)) rejected.length = reporting;
          reporting = rejected.length;
        } else if (!problem) for (const p of touched) marks.observe(p, eventTime);
      }
      return { perWorker, rejected: input || ownsAll || rejected.length === 0 ? rejected : rejected.filter(mine), through, watermark: marks.current(), marks: marks.state() };
    },
  };
}

function describeTime(spec: NonNullable<AppDefinition["eventTime"]>): string {
  return typeof spec === "function" ? "the eventTime function's result" : `field "${spec.field}"`;
}

function describeKey(spec: AppDefinition["actors"][number]["key"]): string {
  if (typeof spec === "function") return "the key function's result";
  if ("token" in spec) return `subject token ${spec.token}`;
  return `field "${spec.field}"`;
}
