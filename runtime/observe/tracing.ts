import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from "@opentelemetry/api";

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The span of one event's processing, and the trace context its outputs and dead letters carry. */
export interface EventSpan {
  span: Span;
  /** `traceparent` naming this span: downstream consumers see weir's processing as the parent. */
  traceparent: string;
}

/**
 * Starts the span of processing an event that came with a W3C trace context, through
 * OpenTelemetry's API: recorded and exported by whatever SDK the app's module (or a preload)
 * registers in the worker; undefined without one (then the event's own context goes on as it came),
 * or when the context is malformed.
 *
 * @example
 * const s = eventSpan(ev.traceparent, "ledger", { "weir.partition": 3 });
 * ...; endEventSpan(s, err);
 */
export function eventSpan(traceparent: string, actor: string, attributes: Record<string, string | number>): EventSpan | undefined {
  const m = TRACEPARENT.exec(traceparent);
  if (!m || m[2] === "0".repeat(32) || m[3] === "0".repeat(16)) return undefined;
  const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: m[2]!, spanId: m[3]!, traceFlags: Number.parseInt(m[4]!, 16), isRemote: true });
  const span = trace.getTracer("weir").startSpan(`process ${actor}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  if (!span.isRecording()) return undefined;
  const sc = span.spanContext();
  return { span, traceparent: `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags.toString(16).padStart(2, "0")}` };
}

/** Ends an event's span: an error if the event was dead-lettered. */
export function endEventSpan(s: EventSpan | undefined, outcome: unknown): void {
  if (!s) return;
  if (outcome instanceof Error) {
    s.span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.message });
    s.span.setAttribute("weir.error", outcome.name);
  }
  s.span.end();
}
