// The decode and route stage: wire formats, keys and event times read from events, schema checks,
// watermarks, and the partition (and so the worker) each event goes to.
export { CONTENT_TYPE_HEADER, codecFor, decodePayload, jsonCodec, msgpackCodec, type Codec } from "./codec.ts";
export { partitionOf } from "./partition.ts";
export { eventTimeReader, keyReader } from "./readers.ts";
export { actorsReading, partitionsFor } from "./targets.ts";
export { createRouter, ORIGIN_HEADER, partitionsOfWorker, TIME_HEADER, TRACE_HEADER, type PartitionInput, type Rejected, type RoutedBatch, type Router } from "./router.ts";
export {
  SCHEMA_ID_HEADER,
  governingSubject,
  registerInputSchemas,
  schemaChecks,
  schemaIdOf,
  valueSubject,
  type SchemaChecks,
  type SchemaRegistryPort,
  type SchemaValidate,
} from "./schemas.ts";
export { createWatermarks, type Watermarks, type WatermarkState } from "./watermark.ts";
