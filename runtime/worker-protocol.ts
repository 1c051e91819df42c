import type { Round, RoundResult } from "./actor-host.ts";
import type { LogLevel } from "./log.ts";

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
}

export type ToWorker = WorkerInit | { type: "round"; round: Round } | { type: "stop" };

export type FromWorker =
  | { type: "ready" }
  | { type: "ack"; result: RoundResult; actors: number }
  | { type: "snapshot"; ms: number }
  | { type: "stopped" }
  | { type: "fatal"; message: string };
