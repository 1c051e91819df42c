// The runtime's product surface: what an app, a producer or an embedding program uses. The
// stages' own surfaces (runtime/<stage>/mod.ts) are for the runtime itself; runtime/internal.ts
// gathers them for the CLI, the tests and the benchmarks.
export type {
  ActorDefinition,
  AppDefinition,
  ColumnType,
  Context,
  EventTimeSpec,
  Handler,
  KeySpec,
  Logger,
  LogLevel,
  RetryPolicy,
  Row,
  SnapshotPolicy,
  TableSpec,
  Timer,
  WatermarkPolicy,
  Scheduler,
} from "./contract/mod.ts";
export {
  DEFAULTS,
  describeError,
  subjectToken,
  fromSubjectToken,
  MAX_KEY_BYTES,
  systemScheduler,
  WeirError,
  isWeirError,
  TerminalError,
  RetryableError,
  DecodeError,
  MissingKeyError,
  InvalidKeyError,
  ValidationError,
  HandlerError,
  UndeclaredOutputError,
  InvalidSubjectError,
  OutputTooLargeError,
  OutputRejectedError,
  RefusedMessageError,
  AppDefinitionError,
  ConfigError,
  SnapshotError,
  PublishError,
  NatsServerError,
  SchemaValidationError,
  UnknownSchemaError,
  SchemaRejectedError,
} from "./contract/mod.ts";
export {
  partitionOf,
  createWatermarks,
  msgpackCodec,
  jsonCodec,
  decodePayload,
  codecFor,
  SCHEMA_ID_HEADER,
  valueSubject,
  governingSubject,
  registerInputSchemas,
  type Codec,
  type SchemaRegistryPort,
  type SchemaValidate,
  type Watermarks,
  type WatermarkState,
} from "./route/mod.ts";
export { startRuntime, type Readiness, type Runtime, type RuntimeMetrics, type RuntimeOptions } from "./runtime.ts";
export { startEmbeddedNats, findNatsServer, appNames, connectNats, connectOptions, natsTarget, redactUrl, type NatsAddress, type NatsServer, type NatsTarget, type NatsTls } from "./nats/mod.ts";
export { appInput, appInputOf, produce, schemaProducer, type AppInput, type ProduceOptions, type SchemaProducer } from "./ops/mod.ts";
export { kvSnapshotStore, type SnapshotStore, type ActorRecord, type PartitionMeta } from "./state/mod.ts";
export { DLQ_HEADERS } from "./output/mod.ts";
