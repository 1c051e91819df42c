import { appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import order from "./order-app.ts";

// The order app with an OpenTelemetry SDK registered where it is loaded (each worker loads it):
// the spans weir records are written, one JSON line each, to `otelSpansFile()` (by process id: a
// worker thread does not see environment variables set after its process started).

export const otelSpansFile = () => join(tmpdir(), `weir-otel-spans-${process.pid}.jsonl`);

const file = otelSpansFile();
{
  const toFile: SpanExporter = {
    export(spans: ReadableSpan[], done) {
      for (const s of spans) {
        const c = s.spanContext();
        appendFileSync(file, `${JSON.stringify({ name: s.name, traceId: c.traceId, spanId: c.spanId, parentSpanId: s.parentSpanContext?.spanId, status: s.status.code, attributes: s.attributes })}\n`);
      }
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(toFile)] }));
}

export default { ...order, name: "otel" };
