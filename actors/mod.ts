export { defineActor, defineApp } from "./actor.ts";
// From the runtime's contract, not runtime/mod.ts: an app loaded by the compiled binary imports
// these from disk, and must not pull the engine (and its dependencies) in with them.
export { subjectToken, fromSubjectToken, TerminalError, RetryableError } from "../runtime/contract/mod.ts";
export type { ActorSpec } from "./actor.ts";
export { count, sum, min, max, avg, distinctCount, reduce, type Aggregate } from "./aggregates.ts";
export {
  windowOperator,
  tumbling,
  hopping,
  sliding,
  session,
  type WindowSpec,
  type WindowResult,
  type WindowState,
  type WindowOperator,
  type WindowOperatorSpec,
  type BlockContext,
} from "./windows.ts";
export { dedupOperator, type DedupOperator, type DedupState } from "./dedup.ts";
export { intervalJoin, type JoinOperator, type JoinState } from "./join.ts";
export { windowedActor, type WindowedActorSpec } from "./windowed-actor.ts";
export type {
  ActorDefinition,
  AppDefinition,
  Context,
  EventTimeSpec,
  Handler,
  KeySpec,
  Logger,
  RetryPolicy,
  Row,
  SnapshotPolicy,
  TableSpec,
  Timer,
  WatermarkPolicy,
} from "../runtime/contract/mod.ts";
