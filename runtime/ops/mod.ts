// Tools around a running app: replays and backfills, dead-letter triage, producers.
export {
  checkNamespace,
  copiedThrough,
  inputCoverage,
  LIVE,
  liveInputPosition,
  livePositions,
  namespaceRange,
  partitionRanges,
  resolveRange,
  type ReplayOptions,
  type ReplayRange,
} from "./replay.ts";
export {
  deadLetterStats,
  describePayload,
  readDeadLetters,
  reasonShape,
  redrive,
  type DeadLetter,
  type DeadLetterFilter,
} from "./dlq.ts";
export { appInput, appInputOf, produce, schemaProducer, type AppInput, type ProduceOptions, type SchemaProducer } from "./producer.ts";
export { appStatus, type AppStatus, type PartitionStatus } from "./status.ts";
