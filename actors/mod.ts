export { defineActor, defineApp } from "./actor.ts";
// From the module itself, not runtime/mod.ts: an app loaded by the compiled binary imports these
// from disk, and must not pull the engine (and its dependencies) in with them.
export { subjectToken, fromSubjectToken } from "../runtime/contract/subjects.ts";
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
  SnapshotPolicy,
  Timer,
} from "../runtime/mod.ts";
