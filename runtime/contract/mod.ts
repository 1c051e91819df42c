// The contract between apps and the runtime, and between the runtime's stages: app and actor
// types, errors, configuration, time, subjects. Light on purpose (no broker or database code):
// actors/ and the apps import it, also from disk into the compiled binary.
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
} from "./app.ts";
export {
  DEFAULTS,
  MAX_PARTITIONS,
  hostConfig,
  partitionsOf,
  resolveConfig,
  type ConfigOverrides,
  type HostConfig,
  type RuntimeConfig,
} from "./config.ts";
export { base64url } from "./encoding.ts";
export {
  WeirError,
  isWeirError,
  describeError,
  TerminalError,
  RetryableError,
  AppDefinitionError,
  ConfigError,
  DecodeError,
  EventTimeError,
  WrongPartitionError,
  FencedError,
  HandlerError,
  InvalidKeyError,
  InvalidSubjectError,
  MissingKeyError,
  NatsServerError,
  OutputRejectedError,
  OutputTooLargeError,
  PublishError,
  RefusedMessageError,
  SchemaRejectedError,
  SchemaValidationError,
  SnapshotError,
  UndeclaredOutputError,
  UnknownSchemaError,
  ValidationError,
} from "./errors.ts";
export { appModuleUrl, loadApp } from "./load-app.ts";
export { backoffMs, retrying, BROKER_BACKOFF, type Backoff, type RetryOptions } from "./retry.ts";
export type { Round, RoundResult, RoutedEvent, SourceMsg } from "./rounds.ts";
export { every, systemScheduler, type Scheduler } from "./scheduler.ts";
export {
  MAX_KEY_BYTES,
  MAX_SUBJECT_BYTES,
  fromSubjectToken,
  safeName,
  subjectCovers,
  subjectMatcher,
  subjectMatches,
  subjectProblem,
  subjectToken,
} from "./subjects.ts";
