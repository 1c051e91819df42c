// The actor host: one worker's partitions, their actors, timers, handler invocations and effects.
export { createActorHost, type ActorHost, type ActorHostOptions } from "./host.ts";
