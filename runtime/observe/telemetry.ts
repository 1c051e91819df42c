/**
 * What a worker measures on its hot path, kept as plain numbers (a histogram observation is a few
 * comparisons and an increment, not a metrics library call) and sent to the main thread with its
 * round reports, where it is summed and exposed (see `prometheus.ts`).
 */

/** Histogram bucket bounds, seconds: from an event's publish to its effect (end-to-end latency). */
export const LATENCY_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;
/** Seconds: a handler's run, a sink batch, a snapshot. */
export const DURATION_BOUNDS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** Bytes: what one snapshot writes. */
export const SIZE_BOUNDS = [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864] as const;

/** Counts per bucket (not cumulative; the last is above every bound), their sum, of observations. */
export interface Hist {
  counts: number[];
  sum: number;
}

export const hist = (bounds: readonly number[]): Hist => ({ counts: new Array<number>(bounds.length + 1).fill(0), sum: 0 });

export function observe(h: Hist, bounds: readonly number[], v: number): void {
  let i = 0;
  while (i < bounds.length && v > bounds[i]!) i++;
  h.counts[i]!++;
  h.sum += v;
}

function addHist(into: Hist, from: Hist): void {
  for (let i = 0; i < from.counts.length; i++) into.counts[i]! += from.counts[i]!;
  into.sum += from.sum;
}

/** A worker's measurements since its last report (`stateBytes` is a level, the rest are counts). */
export interface Telemetry {
  /** Seconds from an event's store in its partition's stream to its round's end. */
  latency: Hist;
  handler: Hist;
  sink: Hist;
  snapshotBytes: Hist;
  /** Dead letters by error class (`HandlerError`, `ValidationError`, ...). */
  deadLetters: Record<string, number>;
  retries: number;
  /** Bytes of the state of the actors in memory, as last stored. */
  stateBytes: number;
}

export function newTelemetry(): Telemetry {
  return { latency: hist(LATENCY_BOUNDS), handler: hist(DURATION_BOUNDS), sink: hist(DURATION_BOUNDS), snapshotBytes: hist(SIZE_BOUNDS), deadLetters: {}, retries: 0, stateBytes: 0 };
}

/** What was measured since the last call, as a report; the counts start again from zero. */
export function takeTelemetry(t: Telemetry): Telemetry {
  const out: Telemetry = { ...t, deadLetters: { ...t.deadLetters } };
  const fresh = newTelemetry();
  t.latency = fresh.latency;
  t.handler = fresh.handler;
  t.sink = fresh.sink;
  t.snapshotBytes = fresh.snapshotBytes;
  t.deadLetters = {};
  t.retries = 0;
  return out;
}

/** Adds a report's counts into running totals (`stateBytes` is the caller's to keep per worker). */
export function addTelemetry(into: Telemetry, from: Telemetry): void {
  addHist(into.latency, from.latency);
  addHist(into.handler, from.handler);
  addHist(into.sink, from.sink);
  addHist(into.snapshotBytes, from.snapshotBytes);
  for (const [k, n] of Object.entries(from.deadLetters)) into.deadLetters[k] = (into.deadLetters[k] ?? 0) + n;
  into.retries += from.retries;
}

export const countDeadLetter = (t: Telemetry, errorClass: string) => void (t.deadLetters[errorClass] = (t.deadLetters[errorClass] ?? 0) + 1);
