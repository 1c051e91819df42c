// Where effects leave the runtime: the publisher seam (pipelined on NATS, in memory) and the
// dead letters, built and sent in one place.
export { pipelinedPublisher, type PipelinedPublisherOptions, type Publisher, type PublishOptions } from "./publisher.ts";
export { memoryPublisher, type MemoryPublisher, type MemoryStream, type StoredMessage } from "./memory-publisher.ts";
export {
  DLQ_HEADERS,
  deadLetters,
  dlqHeaders,
  dlqMsgId,
  headerValue,
  type DeadEvent,
  type DeadLetters,
  type DeadLetterTarget,
  type DlqOrigin,
} from "./dead-letters.ts";
