// What the runtime tells its operators: logs (metrics live on the runtime handle).
export { consoleLogger, createLogger, LOG_FORMATS, type LogFormat, type LoggerOptions, type LogLevel } from "./log.ts";
export { addTelemetry, countDeadLetter, DURATION_BOUNDS, hist, LATENCY_BOUNDS, newTelemetry, observe, SIZE_BOUNDS, takeTelemetry, type Hist, type Telemetry } from "./telemetry.ts";
export { createPrometheus, quantile, type MetricsSummary, type MetricsView, type Prometheus } from "./prometheus.ts";
export { endEventSpan, eventSpan, type EventSpan } from "./tracing.ts";
