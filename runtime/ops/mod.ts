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
  deadLetterCounter,
  deadLetterStats,
  describePayload,
  readDeadLetters,
  scanDeadLetters,
  reasonShape,
  redrive,
  type DeadLetter,
  type DeadLetterFilter,
  type DeadLetterScan,
} from "./dlq.ts";
export { appInput, appInputOf, produce, schemaProducer, type AppInput, type ProduceOptions, type SchemaProducer } from "./producer.ts";
export { appStatus, type AppStatus, type PartitionStatus } from "./status.ts";
