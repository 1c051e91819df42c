import type { HostConfig, LogLevel, Round, RoundResult } from "../contract/mod.ts";

export interface WorkerInit {
  type: "init";
  index: number;
  appUrl: string;
  natsUrl: string;
  partitions: number[];
  bucket: string;
  dlqSubject: string;
  logLevel: LogLevel;
  /** SQL sink URL (when the app declares tables). */
  sinkUrl?: string;
  /** KV bucket of the app's views (when it declares views). */
  viewBucket?: string;
  effects: EffectTarget;
  /** The host's settings, resolved on the main thread (options and flags included). */
  config: HostConfig;
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

export type ToWorker = WorkerInit | { type: "round"; round: Round } | { type: "stop" };

export type FromWorker =
  | { type: "ready" }
  | { type: "ack"; result: RoundResult; actors: number }
  /** `dlq`: dead letters sent outside rounds (rows the database refused) since the last report. */
  | { type: "snapshot"; ms: number; dlq: number }
  | { type: "stopped" }
  | { type: "fatal"; message: string };
