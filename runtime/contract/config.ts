import { cpus } from "node:os";
import type { AppDefinition, LogLevel, RetryPolicy, SnapshotPolicy, WatermarkPolicy } from "./app.ts";
import { AppDefinitionError, ConfigError } from "./errors.ts";

/**
 * Every default of the runtime and the CLI, in one place. Settings are layered once, in
 * {@link resolveConfig}: these defaults, then the app's own (`defineApp`), then options and flags.
 */
export const DEFAULTS = {
  /** Partitions of an app's keys: fixed once state exists (snapshots are stored per partition). */
  partitions: 32,
  /** Messages read and not yet applied, at most, per instance (shared out over its workers and their partitions): bounds memory, and backpressure starts here. */
  maxInFlight: 16_384,
  /** Largest single pull from JetStream (pulls of 2048 were seen stalling after restarts). */
  maxFetch: 512,
  /** The source hands messages on in chunks of at most this many (sooner when the stream is drained). */
  pullChunk: 1024,
  /** How long one pull waits on an idle stream, ms. */
  pullExpiresMs: 2_000,
  /** How long past its expiry a silent pull is given before it is abandoned, ms. */
  pullStallGraceMs: 5_000,
  /** The source keeps trying to read for this long (ms) before the app fails. */
  sourceGiveUpMs: 120_000,
  /** Calls to the broker (KV, stream info) are retried for this long (ms) before they fail. */
  brokerGiveUpMs: 60_000,
  /**
   * How long (ms) the server remembers message ids of outputs and dead letters on streams weir
   * creates: a replay after a crash within it publishes nothing twice.
   */
  dedupWindowMs: 10 * 60_000,
  /**
   * A partition lease (or a replay's instance lock) not renewed for this long (ms) belongs to a dead
   * instance and is taken over; leases are renewed every third of it.
   */
  lockTtlMs: 10_000,
  /**
   * Replicas of every stream and bucket weir creates (input, outputs, dead letters, state, views,
   * owners): 3 on a 3-node cluster keeps an app running through a node's loss. Existing ones are
   * never changed.
   */
  replicas: 1,
  /**
   * What the streams weir creates keep, the oldest going first: the input, the outputs and the
   * dead letters each at most this long and this big, the partitions' streams this big between
   * them (bounded for an edge host's disk). Existing streams are never changed. 0: no limit.
   */
  retention: { maxAgeMs: 7 * 86_400_000, maxBytes: 2 ** 30 },
  /** A publish whose ack has not come back after this long (ms) is sent again (its id makes that safe). */
  publishTimeoutMs: 5_000,
  /** Resends of an unacked publish before it fails. */
  publishResends: 5,
  snapshot: {
    /** Snapshot after this many events per worker. */
    everyEvents: 100_000,
    /** Snapshot at least this often (ms) while there is unsaved state. */
    everyMs: 1_000,
  },
  /** Actors idle for this long (ms) leave memory after a snapshot; they reload from it. */
  evictAfterMs: 10 * 60_000,
  retry: {
    /** Tries in all, the first one included. */
    attempts: 3,
    /** First backoff (ms); it doubles with each failure, with jitter. */
    baseMs: 50,
    /** Longest backoff (ms). */
    maxMs: 2_000,
    /** A handler that has not finished after this long (ms) has failed. */
    deadlineMs: 10_000,
  },
  watermark: {
    /** Events may arrive this much (ms of event time) behind the newest one seen. */
    outOfOrdernessMs: 0,
    /** A partition this far (ms of event time) behind the stream's newest event stops holding the watermark back. */
    idleMs: 60_000,
  },
  /** A SQL sink write taking longer than this (ms) is abandoned and retried on a new connection. */
  sinkWriteTimeoutMs: 20_000,
  logLevel: "info" as LogLevel,
  /** Log records as readable lines (`text`) or one JSON object per line (`json`). */
  logFormat: "text" as "text" | "json",
  /** The embedded nats-server's data directory (and the default SQLite sink's). */
  dataDir: ".weir",
  /** Where `weir run` and `weir registry` serve HTTP (the registry API, views). */
  http: "127.0.0.1:8081",
  /** Largest registry request body, bytes. */
  registryMaxBodyBytes: 1024 * 1024,
} as const;

/** Largest partition count an app may have. */
export const MAX_PARTITIONS = 4096;

/** What options and flags may set over the app's own settings. */
export interface ConfigOverrides {
  /** Override of the app's partition count (must match stored state). */
  partitions?: number;
  /** Worker threads; default: one per core (at most one per partition). */
  workers?: number;
  /** Messages read and not yet applied, at most (shared out over the workers and their partitions; also the repartition step's). Default `DEFAULTS.maxInFlight`. */
  maxInFlight?: number;
  /** Largest single pull from JetStream. Default `DEFAULTS.maxFetch`. */
  maxFetch?: number;
  /** How long (ms) a killed instance's partition leases (or a replay's lock) hold before others take over. Default `DEFAULTS.lockTtlMs`. */
  lockTtlMs?: number;
  /** Replicas of the streams and buckets weir creates (1..5). Default `DEFAULTS.replicas`. */
  replicas?: number;
  logLevel?: LogLevel;
  logFormat?: "text" | "json";
  /** What the streams weir creates keep (see `DEFAULTS.retention`). */
  retention?: { maxAgeMs?: number; maxBytes?: number };
}

/** What a worker's actor host needs of the configuration. */
export interface HostConfig {
  snapshot: Required<SnapshotPolicy>;
  evictAfterMs: number;
  retry: Required<RetryPolicy>;
}

/** The settings an app runs with, every one resolved. */
export interface RuntimeConfig extends HostConfig {
  partitions: number;
  workers: number;
  maxInFlight: number;
  maxFetch: number;
  lockTtlMs: number;
  replicas: number;
  dedupWindowMs: number;
  watermark: Required<WatermarkPolicy>;
  logLevel: LogLevel;
  logFormat: "text" | "json";
  retention: { maxAgeMs: number; maxBytes: number };
}

/**
 * The partition count of an app: the override, else the app's, else the default; checked.
 *
 * @example
 * partitionsOf(app) // 32 unless the app says otherwise
 */
export function partitionsOf(app: AppDefinition, override?: number): number {
  const p = override ?? app.partitions ?? DEFAULTS.partitions;
  if (!Number.isInteger(p) || p < 1 || p > MAX_PARTITIONS) {
    throw new AppDefinitionError(`app ${app.name}: partitions must be an integer in 1..${MAX_PARTITIONS}, got ${p}`);
  }
  return p;
}

/** The actor host's part of the configuration: the app's settings over the defaults. */
export function hostConfig(app: AppDefinition): HostConfig {
  return {
    snapshot: { ...DEFAULTS.snapshot, ...defined(app.snapshot) },
    evictAfterMs: app.evictAfterMs ?? DEFAULTS.evictAfterMs,
    retry: { ...DEFAULTS.retry, ...defined(app.retry) },
  };
}

/**
 * The one place settings are layered: defaults, then the app's own, then `overrides` (options and
 * flags). Refuses what cannot run with a one-line error.
 *
 * @example
 * const config = resolveConfig(app, { workers: 2 });
 */
export function resolveConfig(app: AppDefinition, overrides: ConfigOverrides = {}): RuntimeConfig {
  const partitions = partitionsOf(app, overrides.partitions);
  const workers = overrides.workers ?? Math.min(cpus().length, partitions);
  if (!Number.isInteger(workers) || workers < 1 || workers > partitions) {
    throw new ConfigError(`workers must be an integer in 1..${partitions} (the partition count), got ${workers}`);
  }
  const positive = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${name} must be a positive integer, got ${v}`);
    return v;
  };
  return {
    ...hostConfig(app),
    partitions,
    workers,
    maxInFlight: positive("maxInFlight", overrides.maxInFlight ?? DEFAULTS.maxInFlight),
    maxFetch: positive("maxFetch", overrides.maxFetch ?? DEFAULTS.maxFetch),
    lockTtlMs: positive("lockTtlMs", overrides.lockTtlMs ?? DEFAULTS.lockTtlMs),
    replicas: replicasOf(overrides.replicas),
    dedupWindowMs: DEFAULTS.dedupWindowMs,
    watermark: { ...DEFAULTS.watermark, ...defined(app.watermark) },
    logLevel: overrides.logLevel ?? DEFAULTS.logLevel,
    logFormat: overrides.logFormat ?? DEFAULTS.logFormat,
    retention: retentionOf(overrides.retention),
  };
}

function retentionOf(r: ConfigOverrides["retention"] = {}): RuntimeConfig["retention"] {
  const out = { maxAgeMs: r.maxAgeMs ?? DEFAULTS.retention.maxAgeMs, maxBytes: r.maxBytes ?? DEFAULTS.retention.maxBytes };
  for (const [k, v] of Object.entries(out)) if (!Number.isInteger(v) || v < 0) throw new ConfigError(`retention ${k} must be a whole number, 0 for no limit, got ${v}`);
  // Outputs are deduplicated by id for `dedupWindowMs`: a stream that keeps less would forget ids it still needs.
  if (out.maxAgeMs > 0 && out.maxAgeMs < DEFAULTS.dedupWindowMs) throw new ConfigError(`retention max age must be at least the dedup window (${DEFAULTS.dedupWindowMs / 60_000} min), got ${out.maxAgeMs} ms`);
  return out;
}

function replicasOf(v: number = DEFAULTS.replicas): number {
  // JetStream's own bound: replicated streams have at most 5 copies.
  if (!Number.isInteger(v) || v < 1 || v > 5) throw new ConfigError(`replicas must be an integer in 1..5, got ${v}`);
  return v;
}

/** The keys of `o` whose values are not undefined (so they do not mask defaults when spread). */
function defined<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o ?? {})) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
