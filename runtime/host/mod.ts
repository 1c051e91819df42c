// The actor host: one worker's partitions, their actors, timers, handler invocations and effects.
export { createActorHost, stuckKey, type ActorHost, type ActorHostOptions } from "./host.ts";
export type { InvocationWatch } from "./invocation.ts";
