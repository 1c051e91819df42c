// The source stage: a pull consumer of its own per stream, that only asks JetStream for what it holds credit for.
export { createCredit, type Credit } from "./credit.ts";
export { pullSource, type SourceOptions } from "./source.ts";
export { startRepartition, type Repartition, type RepartitionOptions } from "./repartition.ts";
