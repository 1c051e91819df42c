// The runtime's public surface. Everything else in runtime/ is internal.
export type { ActorDefinition, AppDefinition, Context, EventTimeSpec, Handler, KeySpec, Logger, SnapshotPolicy, Timer } from "./contract/app.ts";
export { createWatermarks, type WatermarkPolicy, type Watermarks, type WatermarkState } from "./route/watermark.ts";
export { partitionOf } from "./route/partition.ts";
export { subjectToken, fromSubjectToken, MAX_KEY_BYTES } from "./contract/subjects.ts";
export { startRuntime, type Runtime, type RuntimeMetrics, type RuntimeOptions } from "./runtime.ts";
export { startNats, startEmbeddedNats, findNatsServer, type NatsServer, type StartNatsOptions } from "./nats/server.ts";
export { produce, schemaProducer, type ProduceOptions, type SchemaProducer } from "./ops/producer.ts";
export {
  SCHEMA_ID_HEADER,
  valueSubject,
  governingSubject,
  registerInputSchemas,
  type SchemaRegistryPort,
  type SchemaValidate,
} from "./route/schemas.ts";
export { msgpackCodec, jsonCodec, decodePayload, codecFor, type Codec } from "./contract/codec.ts";
export { kvSnapshotStore, type SnapshotStore, type ActorRecord, type PartitionMeta } from "./state/snapshot-store.ts";
export { appNames } from "./nats/streams.ts";
export { DLQ_HEADERS } from "./output/publisher.ts";
export { systemClock, manualClock, type Clock } from "./contract/clock.ts";
export {
  WeirError,
  DecodeError,
  MissingKeyError,
  ValidationError,
  HandlerError,
  UndeclaredOutputError,
  InvalidKeyError,
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
} from "./contract/errors.ts";
