export { defineActor, defineApp } from "./actor.ts";
export type { ActorSpec } from "./actor.ts";
export type {
  ActorDefinition,
  AppDefinition,
  Context,
  Handler,
  KeySpec,
  Logger,
  SnapshotPolicy,
} from "../runtime/mod.ts";
