import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { ConfigError } from "../contract/mod.ts";
import { kvSnapshotStore, type AppConfigRecord } from "../state/mod.ts";
import { appNames, hasBucket, NAMESPACE_PATTERN, peekSeq } from "../nats/mod.ts";
import { ORIGIN_HEADER } from "../route/mod.ts";

/** The namespace that names the live app's own outputs, tables and views. */
export const LIVE = "live";

/**
 * A bounded reprocessing run (`weir replay`): the app's code over a range of its input stream,
 * from empty state at `from`, with its effects in a namespace of their own.
 */
export interface ReplayOptions {
  /**
   * Namespace of the effects: output subjects become `<ns>.<subject>` (in stream
   * `weir_<app>__<ns>_out`), tables `<ns>_<table>`, views bucket `weir_<app>__<ns>_views`, state
   * bucket `weir_<app>__<ns>_state`. `live` writes into the live app's subjects, tables and views,
   * and repeats no effect they already hold.
   */
  into: string;
  /** First message: a stream sequence, or a time (the first message stored at or after it). */
  from: number | Date;
  /**
   * Last message, inclusive: a sequence, or a time (the last message stored before it). Default:
   * the end of the stream as the replay starts; into `live`, the live app's position.
   */
  to?: number | Date;
}

/** Stream sequences a replay covers, inclusive (`to < from`: nothing). */
export interface ReplayRange {
  from: number;
  to: number;
}

export function checkNamespace(ns: string): void {
  if (ns !== LIVE && !NAMESPACE_PATTERN.test(ns)) {
    throw new ConfigError(`a replay namespace is a letter followed by up to 31 letters, digits or _ (or "live"), got "${ns}"`);
  }
}

/** First sequence of a message stored at or after `time`, or the stream's last + 1 when none is. */
async function firstSeqAt(js: JetStreamClient, jsm: JetStreamManager, stream: string, time: Date): Promise<number> {
  const seq = await peekSeq(js, stream, { deliver_policy: DeliverPolicy.StartTime, opt_start_time: time.toISOString() });
  return seq ?? (await jsm.streams.info(stream)).state.last_seq + 1;
}

/**
 * Turns `from`/`to` into stream sequences, with `to` no later than the stream's current end (and
 * than `cap`, when given: a replay into live stops where the live app is).
 */
export async function resolveRange(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  spec: Pick<ReplayOptions, "from" | "to">,
  cap?: number,
): Promise<ReplayRange> {
  const { first_seq: first, last_seq: last } = (await jsm.streams.info(stream)).state;
  const seqOf = async (v: number | Date, end: boolean) => {
    if (typeof v === "number") {
      if (!Number.isInteger(v) || v < 1) throw new ConfigError(`a replay bound must be a positive sequence or a time, got ${v}`);
      return v;
    }
    if (Number.isNaN(v.getTime())) throw new ConfigError("a replay bound is not a valid time");
    const seq = await firstSeqAt(js, jsm, stream, v);
    return end ? seq - 1 : seq;
  };
  const from = Math.max(first, await seqOf(spec.from, false));
  let to = spec.to === undefined ? last : Math.min(last, await seqOf(spec.to, true));
  if (cap !== undefined) {
    if (typeof spec.to === "number" && spec.to > cap) {
      throw new ConfigError(
        `a replay into live stops where the live app is (sequence ${cap}); --to ${spec.to} is past it (those events are the live app's to process)`,
      );
    }
    to = Math.min(to, cap);
  }
  return { from, to };
}

/**
 * How far the live app's repartition step has copied `input` into the partitions' streams (0 when
 * the app has never run here). Read without creating the live app's bucket.
 */
export async function copiedThrough(nc: NatsConnection, jsm: JetStreamManager, appName: string, input: string): Promise<number> {
  const bucket = appNames(appName).bucket;
  if (!(await hasBucket(jsm, bucket))) return 0;
  return (await kvSnapshotStore(nc, { bucket })).loadPosition(input);
}

/**
 * Per partition, the position the live app has stored (outputs and dead letters up to it are
 * published). Refuses an app that has never run on this NATS.
 */
export async function livePositions(nc: NatsConnection, jsm: JetStreamManager, appName: string, partitions: number): Promise<Map<number, number>> {
  const bucket = appNames(appName).bucket;
  if (!(await hasBucket(jsm, bucket))) throw new ConfigError(`app ${appName} has no live state here (no bucket ${bucket}): there is nothing to replay into live`);
  const store = await kvSnapshotStore(nc, { bucket });
  const config = await store.loadConfig();
  if (config && config.partitions !== partitions) {
    throw new ConfigError(`the live app ${appName} runs with ${config.partitions} partitions; a replay into live must use the same (got ${partitions})`);
  }
  const metas = await Promise.all(Array.from({ length: partitions }, (_, p) => store.loadMeta(p)));
  return new Map(metas.map((m, p) => [p, m?.lastSeq ?? 0]));
}

/**
 * A namespace replays one range: the same range again resumes an interrupted replay (or finds it
 * done; without an explicit end, the end it was started with), another one is refused rather than
 * mixed into its outputs.
 */
export function namespaceRange(ns: string, stored: AppConfigRecord | null, range: ReplayRange, endGiven: boolean): ReplayRange {
  const had = stored?.replay;
  if (!had) return range;
  if (had.from === range.from && (had.to === range.to || !endGiven)) return had;
  throw new ConfigError(`namespace ${ns} holds a replay of sequences ${had.from}..${had.to}; replay ${range.from}..${range.to} into another namespace`);
}

/** The sequence of `input` a partition stream's message `seq` is a copy of (see the repartition step). */
async function originAt(jsm: JetStreamManager, stream: string, seq: number, input: string): Promise<number> {
  const m = await jsm.streams.getMessage(stream, { seq });
  const o = m?.header.get(ORIGIN_HEADER);
  if (!o || !o.startsWith(`${input}:`)) throw new ConfigError(`message ${seq} of ${stream} is not a copy from ${input}: a replay reads only what the repartition step copied`);
  return Number(o.slice(input.length + 1));
}

/** The lowest sequence in `[lo, hi]` whose origin is at least `at`, or `hi + 1` (origins grow with the sequence). */
async function firstAtOrAfter(jsm: JetStreamManager, stream: string, lo: number, hi: number, at: number, input: string): Promise<number> {
  let end = hi + 1;
  while (lo < end) {
    const mid = Math.floor((lo + end) / 2);
    if ((await originAt(jsm, stream, mid, input)) >= at) end = mid;
    else lo = mid + 1;
  }
  return end;
}

/**
 * Per partition, the sequences of its stream `[from, to]` (inclusive) holding the copies of the
 * input stream's `range`: found by bisection on each copy's origin.
 */
export async function partitionRanges(jsm: JetStreamManager, input: string, partitionStreams: readonly string[], range: ReplayRange): Promise<Map<number, [number, number]>> {
  const out = await Promise.all(
    partitionStreams.map(async (stream): Promise<[number, number]> => {
      const { first_seq: first, last_seq: last } = (await jsm.streams.info(stream)).state;
      if (last === 0 || range.to < range.from) return [1, 0];
      const from = await firstAtOrAfter(jsm, stream, Math.max(1, first), last, range.from, input);
      const to = (await firstAtOrAfter(jsm, stream, from, last, range.to + 1, input)) - 1;
      return [from, to];
    }),
  );
  return new Map(out.map((r, p) => [p, r]));
}

/**
 * Per partition, how far in the input stream its applied position (`at`) reaches: just before the
 * origin of its first copy not applied yet, or all the repartition step has copied (`copied`) when
 * it has applied all of them.
 */
export function inputCoverage(jsm: JetStreamManager, input: string, partitionStreams: readonly string[], at: ReadonlyMap<number, number>, copied: number): Promise<number[]> {
  return Promise.all(
    partitionStreams.map(async (stream, p) => {
      const last = (await jsm.streams.info(stream)).state.last_seq;
      const pos = at.get(p) ?? 0;
      return pos >= last ? copied : Math.min(copied, (await originAt(jsm, stream, pos + 1, input)) - 1);
    }),
  );
}

/** How far in the input stream the live app has applied everything (the least of {@link inputCoverage}). */
export async function liveInputPosition(jsm: JetStreamManager, input: string, partitionStreams: readonly string[], live: ReadonlyMap<number, number>, copied: number): Promise<number> {
  return Math.min(copied, ...(await inputCoverage(jsm, input, partitionStreams, live, copied)));
}
