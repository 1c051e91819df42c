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
}

export type ToWorker = WorkerInit | { type: "round"; round: Round } | { type: "stop" };

export type FromWorker =
  | { type: "ready" }
  | { type: "ack"; result: RoundResult; actors: number }
  | { type: "snapshot"; ms: number }
  | { type: "stopped" }
  | { type: "fatal"; message: string };
