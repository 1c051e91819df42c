// What the seed apps' tests share: a fixed-seed workload generator (out-of-order, too-late and
// duplicate events) and ways to run an app over it on a real nats-server, in process and as
// `weir run` processes SIGKILLed mid-stream.
export { counted, generate, type EventClass, type Generated, type GeneratorSpec } from "./generator.ts";
export {
  appSuite,
  expectLate,
  expectWindows,
  finalWindows,
  runInProcess,
  runWithCrashes,
  sameOutputs,
  type AppRun,
  type WindowValue,
} from "./testkit.ts";
