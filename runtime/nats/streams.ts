import type { JetStreamClient, JetStreamManager, OrderedConsumerOptions, StreamInfo } from "@nats-io/jetstream";
import { nanos } from "@nats-io/nats-core";
import { ConfigError, DEFAULTS, subjectCovers, type AppDefinition } from "../contract/mod.ts";
import { hasStream } from "./kv.ts";
import { appNames } from "./names.ts";

export interface AppStreams {
  /** Stream holding the app's input subjects. */
  input: string;
  /**
   * Filter subject for the source, only where reading through it is both needed (the stream holds
   * subjects the app does not read) and cheap (one literal subject). Otherwise the source reads the
   * whole stream and the router skips what no actor reads: nats-server 2.9 answers a consumer with
   * a wildcard filter at a mid-stream start only after scanning every subject of the stream (23 s at
   * 100k subjects, past the API timeout) and then delivers through it at a crawl.
   */
  filter?: string;
  /** The input stream holds subjects no actor reads (they are read and skipped unless `filter` is set). */
  shared: boolean;
  dlqSubject: string;
  bucket: string;
  /** The stream of each partition's input, by partition. */
  partitionStreams: string[];
}

/**
 * Dedup window of the partition streams: it only has to cover a publish sent again after a late
 * ack (the repartition step's copies are ordered by expected sequences, not by their ids), and a
 * short one keeps the server's id table small at high rates.
 */
const PARTITION_DEDUP_MS = 60_000;

/**
 * Sequence of the first message a consumer with these options would deliver (a one-message look
 * through a throw-away ordered consumer), or undefined when there is none.
 *
 * @example
 * await peekSeq(js, "weir_ledger_in", { deliver_policy: DeliverPolicy.Last, filter_subjects: "payments.>" });
 */
export async function peekSeq(js: JetStreamClient, stream: string, opts: Partial<OrderedConsumerOptions>): Promise<number | undefined> {
  const c = await js.consumers.get(stream, opts);
  try {
    return (await c.next({ expires: 1000 }))?.seq;
  } finally {
    await c.delete().catch(() => {});
  }
}

async function findStream(jsm: JetStreamManager, subject: string): Promise<string | undefined> {
  try {
    return await jsm.streams.find(subject);
  } catch {
    return undefined;
  }
}

/** How long, and how much, a stream weir creates keeps (the oldest messages go first). 0: no limit. */
export interface Retention {
  maxAgeMs: number;
  maxBytes: number;
}

async function createStream(jsm: JetStreamManager, name: string, subjects: string[], replicas: number, dedupMs: number | undefined, keep: Retention): Promise<StreamInfo> {
  try {
    return await jsm.streams.add({
      name,
      subjects,
      num_replicas: replicas,
      ...(dedupMs ? { duplicate_window: nanos(Math.min(dedupMs, keep.maxAgeMs || dedupMs)) } : {}),
      ...(keep.maxAgeMs ? { max_age: nanos(keep.maxAgeMs) } : {}),
      ...(keep.maxBytes ? { max_bytes: keep.maxBytes } : {}),
    });
  } catch (err) {
    // Made meanwhile by another instance starting at the same moment (nats-server 2.9 answers the
    // second of two concurrent creates with "subjects overlap with an existing stream"): bound to.
    const made = await jsm.streams.info(name).catch(() => undefined);
    if (made && subjects.every((s) => made.config.subjects?.includes(s))) return made;
    throw new ConfigError(`cannot create stream ${name} for ${subjects.join(", ")}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Binds the app to existing streams that hold its subjects, or creates them: the input stream
 * (all input subjects must live in one stream), a stream for declared outputs (with a dedup window
 * long enough to absorb replays after a crash) and the dead-letter stream.
 *
 * @example
 * const { input, dlqSubject } = await ensureAppStreams(jsm, app);
 */
export async function ensureAppStreams(
  jsm: JetStreamManager,
  app: AppDefinition,
  opts: {
    dedupWindowMs?: number;
    /** Replay namespace whose output and dead-letter streams to bind (the live app's when absent). */
    namespace?: string;
    /** The input stream must exist already (a replay reads what is there). */
    existingInput?: boolean;
    /** Replicas of the streams created here (existing ones are bound as they are). Default 1. */
    replicas?: number;
    /**
     * The app's partitions: one input stream each (the live app's, also for a replay, which reads
     * them). Absent: only the streams producers need (the input, outputs, dead letters).
     */
    partitions?: number;
    /**
     * What the streams created here keep (default `DEFAULTS.retention`): the input, outputs and
     * dead letters each up to `maxBytes`, the partitions' streams that much between them. Existing
     * streams are kept as they are; where theirs differ, `notice` is told.
     */
    retention?: Retention;
    notice?: (line: string) => void;
  } = {},
): Promise<AppStreams> {
  const keep = opts.retention ?? DEFAULTS.retention;
  const partitionKeep = { ...keep, maxBytes: keep.maxBytes ? Math.max(1 << 20, Math.floor(keep.maxBytes / Math.max(1, opts.partitions ?? 1))) : 0 };
  /** An existing stream weir would have made with other limits: said, never changed. */
  const compare = async (name: string, want: Retention) => {
    if (!opts.notice) return;
    const c = (await jsm.streams.info(name)).config;
    const has = { maxAgeMs: Math.round((c.max_age ?? 0) / 1e6), maxBytes: c.max_bytes > 0 ? c.max_bytes : 0 };
    if (has.maxAgeMs !== want.maxAgeMs || has.maxBytes !== want.maxBytes) {
      opts.notice(`stream ${name} exists with ${describeRetention(has)}, not the ${describeRetention(want)} configured: it is left as it is (change it with nats stream edit)`);
    }
  };
  const names = appNames(app.name, opts.namespace);
  const live = appNames(app.name);
  const replicas = opts.replicas ?? 1;
  const inputs = [...new Set(app.actors.flatMap((a) => a.input))];
  const found = await Promise.all(inputs.map((s) => findStream(jsm, s)));
  const bound = new Set(found.filter((s): s is string => s !== undefined));
  let input: string;
  /** Subjects the input stream holds. */
  let held: readonly string[] = inputs;
  if (bound.size === 0 && opts.existingInput) {
    throw new ConfigError(`no stream holds the input subjects of app ${app.name} (${inputs.join(", ")}): there is nothing to replay`);
  } else if (bound.size === 0) {
    input = (await createStream(jsm, names.input, inputs, replicas, undefined, keep)).config.name;
  } else if (bound.size === 1 && found.every((s) => s !== undefined)) {
    input = [...bound][0]!;
    held = (await jsm.streams.info(input)).config.subjects ?? [];
  } else {
    const where = inputs.map((s, i) => `${s} -> ${found[i] ?? "no stream"}`).join(", ");
    throw new ConfigError(`all input subjects of app ${app.name} must be in one stream (${where})`);
  }

  // A stream weir made before (producers' own streams are theirs to size).
  if (bound.size === 1 && input === names.input) await compare(input, keep);

  const outputs = [...new Set(app.actors.flatMap((a) => a.outputs.map((o) => names.outputPrefix + o)))];
  const unbound: string[] = [];
  for (const s of outputs) if (!(await findStream(jsm, s))) unbound.push(s);
  if (unbound.length > 0) await createStream(jsm, names.output, unbound, replicas, opts.dedupWindowMs ?? DEFAULTS.dedupWindowMs, keep);
  else if (outputs.length > 0 && (await hasStream(jsm, names.output))) await compare(names.output, keep);

  if (!(await findStream(jsm, names.dlqSubject))) {
    await createStream(jsm, names.dlq, [names.dlqSubject], replicas, opts.dedupWindowMs ?? DEFAULTS.dedupWindowMs, keep);
  } else if (await hasStream(jsm, names.dlq)) await compare(names.dlq, keep);
  const partitionStreams = Array.from({ length: opts.partitions ?? 0 }, (_, p) => live.partitionStream(p));
  await Promise.all(
    partitionStreams.map(async (name, p) => {
      if (!(await hasStream(jsm, name))) return void (await createStream(jsm, name, [`${live.inputPrefix}.${p}.>`], replicas, PARTITION_DEDUP_MS, partitionKeep));
      // One line for all of them (they are made alike), not one per partition.
      if (p === 0) await compare(name, partitionKeep);
    }),
  );
  const foreign = held.some((h) => !inputs.some((i) => subjectCovers(i, h)));
  const literal = inputs.length === 1 && !/(^|\.)[*>](\.|$)/.test(inputs[0]!);
  return {
    input,
    ...(foreign && literal ? { filter: inputs[0]! } : {}),
    shared: foreign,
    dlqSubject: names.dlqSubject,
    bucket: names.bucket,
    partitionStreams,
  };
}

/** `7d and 1 GiB`, `no age limit and 512 MiB`, ... */
export function describeRetention(r: Retention): string {
  const age = r.maxAgeMs === 0 ? "no age limit" : r.maxAgeMs % 86_400_000 === 0 ? `${r.maxAgeMs / 86_400_000}d` : r.maxAgeMs % 3_600_000 === 0 ? `${r.maxAgeMs / 3_600_000}h` : `${r.maxAgeMs / 1000}s`;
  const size = r.maxBytes === 0 ? "no size limit" : r.maxBytes % 2 ** 30 === 0 ? `${r.maxBytes / 2 ** 30} GiB` : r.maxBytes % 2 ** 20 === 0 ? `${r.maxBytes / 2 ** 20} MiB` : `${r.maxBytes} bytes`;
  return `${age} and ${size}`;
}
