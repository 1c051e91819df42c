import type { HostConfig, LogLevel, RoundResult, WatermarkPolicy } from "../contract/mod.ts";
import type { NatsTarget } from "../nats/mod.ts";
import type { Telemetry } from "../observe/mod.ts";

/** Where a worker reads its partitions' events: each partition's own stream, from its stored position + 1. */
export interface WorkerInput {
  /** `[partition, stream]` of the worker's partitions. */
  streams: [number, string][];
  /** The app's partitioned input prefix (subjects are `<prefix>.<partition>.<subject>`). */
  prefix: string;
  /** The app's partition count (keys are hashed over all of them). */
  partitions: number;
  watermark: WatermarkPolicy;
  /** Messages read and not yet applied, at most, over the worker's partitions. */
  maxInFlight: number;
  maxFetch: number;
  /** A replay: `[partition, from, to]`, the sequences of each partition's stream to read (inclusive); the worker ends after them. */
  ranges?: [number, number, number][];
  /**
   * Check messages published straight to a partition against the schema their `Weir-Schema-Id`
   * names (the repartition step checked its copies), through the registry the worker's entry
   * module installs (see `useSchemaRegistry`).
   */
  schemas?: boolean;
}

/**
 * A worker gathers its rounds' reports for this long before it posts them (each post costs both
 * threads a structured clone): counts and progress reach the main thread this much later at most.
 */
export const REPORT_EVERY_MS = 20;

/** What a worker reports of a partition's rounds: their counts, and where the partition is after the last. */
export interface RoundReport {
  result: RoundResult;
  /** Actors in the worker's memory. */
  actors: number;
  partition: number;
  /** Messages the rounds covered. */
  count: number;
  /** Every message of the partition's stream up to here is applied. */
  through: number;
  /** Messages left in the partition's stream after `through`. */
  pending: number;
  /** The partition's watermark after the last round. */
  watermark: number;
}

export interface WorkerInit {
  type: "init";
  index: number;
  appUrl: string;
  /** Where NATS is and how to log in (the main thread's own target). */
  nats: NatsTarget;
  partitions: number[];
  bucket: string;
  dlqSubject: string;
  logLevel: LogLevel;
  logFormat: "text" | "json";
  /** Measure latencies, handler durations and the rest for the metrics (see `Telemetry`). */
  metrics: boolean;
  /** SQL sink URL (when the app declares tables). */
  sinkUrl?: string;
  /** KV bucket of the app's views (when it declares views). */
  viewBucket?: string;
  effects: EffectTarget;
  /** `[partition, epoch]` of the leases the instance holds (live runs): the host's writes are fenced by them. */
  epochs?: [number, number][];
  /**
   * One float64, written by the main thread: until when (epoch ms) the instance's leases are
   * certainly held (`Ownership.heldUntil`). The host waits before its writes while it lies in the past.
   */
  leaseClock?: SharedArrayBuffer;
  /**
   * Five float64s the worker keeps up to date for the pool's watchdog: invocations begun, whether
   * one is running, and its event's sequence, partition and actor index (see `workerWatch`).
   */
  watch: SharedArrayBuffer;
  /** Events whose handler the watchdog stopped before (`stuckKey`): dead-lettered, not run again. */
  stuck?: string[];
  /** The host's settings, resolved on the main thread (options and flags included). */
  config: HostConfig;
  input: WorkerInput;
}

/** Where a worker's effects go: the live app's subjects and tables, or a replay namespace's. */
export interface EffectTarget {
  /** Prepended to output subjects. */
  outputPrefix: string;
  /** SQL sink offsets scope and table name prefix. */
  sinkScope: string;
  tablePrefix: string;
  /** Per partition: outputs and dead letters at or below this position were published before (replays into live). */
  fence?: [number, number][];
}

export type ToWorker =
  | WorkerInit
  | { type: "stop" }
  /** Take these partitions on too (a rebalance): claim them with their epochs, then read them from their stored positions. */
  | { type: "add"; partitions: number[]; epochs: [number, number][]; streams: [number, string][] }
  /** Hand these partitions over: stop reading them, snapshot, let their actors go. */
  | { type: "drop"; partitions: number[] };

export type FromWorker =
  /** Loaded; `positions`: `[partition, stored position]` of its partitions. */
  | { type: "ready"; positions: [number, number][] }
  /** Added partitions claimed and being read; `positions` as in "ready". */
  | { type: "added"; positions: [number, number][] }
  /** Dropped partitions snapshotted and let go. */
  | { type: "dropped" }
  /** The rounds applied since the last such message, one report per partition (sent at most every `REPORT_EVERY_MS`). */
  | { type: "rounds"; reports: RoundReport[]; telemetry?: Telemetry }
  /** A replay's worker has applied its whole range. */
  | { type: "ended" }
  /** `dlq`: dead letters sent outside rounds (rows the database refused) since the last report. */
  | { type: "snapshot"; ms: number; dlq: number; telemetry?: Telemetry }
  | { type: "stopped" }
  /** `transient`: the broker's and passing (see `transientNatsError`): the partitions can start again from their snapshots. */
  | { type: "fatal"; message: string; transient: boolean }
  /** A write was refused: these partitions belong to a newer owner now. */
  | { type: "fenced"; message: string; partitions: number[] };
