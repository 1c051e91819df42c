// Every stage's surface in one place, for the composition root (cli/), the tests and the
// benchmarks. Not a product surface: apps and embedding programs use runtime/mod.ts.
export * from "./contract/mod.ts";
export * from "./host/mod.ts";
export * from "./nats/mod.ts";
export * from "./observe/mod.ts";
export * from "./ops/mod.ts";
export * from "./output/mod.ts";
export * from "./ownership/mod.ts";
export * from "./route/mod.ts";
export * from "./sinks/mod.ts";
export * from "./source/mod.ts";
export * from "./state/mod.ts";
export * from "./workers/mod.ts";
export * from "./runtime.ts";
