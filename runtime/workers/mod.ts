// Worker threads: the pool on the main thread, the message protocol, and the worker entry (worker.ts,
// started by the pool, never imported).
export { StartAbandonedError, startWorkerPool, StuckWorkerError, TransientWorkerError, type WorkerPool, type WorkerPoolOptions } from "./pool.ts";
export type { EffectTarget, FromWorker, ToWorker, WorkerInit } from "./protocol.ts";
