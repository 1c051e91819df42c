import { AggregatorRegistry, collectDefaultMetrics, Registry, type MetricObjectWithValues, type MetricValueWithName } from "prom-client";
import { addTelemetry, DURATION_BOUNDS, hist, LATENCY_BOUNDS, newTelemetry, observe, SIZE_BOUNDS, type Hist, type Telemetry } from "./telemetry.ts";

/** What the runtime knows at a scrape, besides what its workers measured. */
export interface MetricsView {
  received: number;
  processed: number;
  skipped: number;
  emitted: number;
  timersFired: number;
  snapshots: number;
  actors: number;
  workers: number;
  partitions: number;
  owned: readonly number[];
  /** Messages left in each owned partition's stream after what its worker applied. */
  lag: ReadonlyMap<number, number>;
  /** Messages left in the input stream for the repartition step (when this instance runs it). */
  repartitionLag: number;
  /** Event time, ms (-Infinity before any event). */
  watermark: number;
  watermarkAgeMs: number;
  ready: boolean;
}

type Json = MetricObjectWithValues<MetricValueWithName<string>>;
type Labels = Record<string, string | number>;

const metric = (name: string, help: string, type: "counter" | "gauge", values: [Labels, number][]): Json =>
  ({ name, help, type, aggregator: "sum", values: values.map(([labels, value]) => ({ labels, value, metricName: name })) }) as unknown as Json;

/** A histogram in the exposition's terms: cumulative buckets, their sum and count. */
function histogram(name: string, help: string, bounds: readonly number[], h: Hist): Json {
  const values: MetricValueWithName<string>[] = [];
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += h.counts[i]!;
    values.push({ labels: { le: i < bounds.length ? bounds[i]! : "+Inf" }, value: cumulative, metricName: `${name}_bucket` });
  }
  values.push({ labels: {}, value: h.sum, metricName: `${name}_sum` }, { labels: {}, value: cumulative, metricName: `${name}_count` });
  return { name, help, type: "histogram", aggregator: "sum", values } as unknown as Json;
}

/** A quantile of a histogram, by linear interpolation within its bucket (Prometheus's `histogram_quantile`); undefined when empty. */
export function quantile(q: number, bounds: readonly number[], h: Hist): number | undefined {
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const n = h.counts[i]!;
    if (below + n >= rank && n > 0) {
      // Above the last bound: its lower edge is all that is known.
      if (i === bounds.length) return bounds[bounds.length - 1];
      const lo = i === 0 ? 0 : bounds[i - 1]!;
      return lo + (bounds[i]! - lo) * ((rank - below) / n);
    }
    below += n;
  }
  return bounds[bounds.length - 1];
}

/** What the live page shows (`/ui/data`): the figures of `/metrics`, with quantiles worked out. */
export interface MetricsSummary extends Omit<MetricsView, "lag"> {
  app: string;
  time: number;
  lag: [number, number][];
  deadLetters: Record<string, number>;
  /** End-to-end latency and handler duration quantiles, seconds (absent before any event). */
  latency: { p50?: number; p90?: number; p99?: number };
  /** The end-to-end latency histogram itself (bucket upper bounds in seconds, counts per bucket, the last above them): for quantiles over an interval. */
  latencyBuckets: { bounds: readonly number[]; counts: number[] };
  handler: { p50?: number; p99?: number };
}

/**
 * The runtime's metrics in Prometheus's text exposition: weir's own (names in Prometheus's
 * conventions: `weir_` prefix, `_total` counters, seconds and bytes, labels `app`, `partition`,
 * `reason`) and the process's (prom-client's default metrics: CPU, memory, event loop). The
 * workers' measurements arrive as reports and are summed here; nothing is computed per event on
 * this thread.
 *
 * @example
 * const prom = createPrometheus("ledger", () => view);
 * pool.onTelemetry = prom.absorb;
 * const body = await prom.text();
 */
export function createPrometheus(app: string, view: () => MetricsView) {
  const totals = newTelemetry();
  /** Each worker's own level, by its index (a restarted pool reports afresh). */
  const stateBytes = new Map<number, number>();
  const snapshotSeconds = hist(DURATION_BOUNDS);
  const processRegistry = new Registry();
  collectDefaultMetrics({ register: processRegistry });

  const weirMetrics = (): Json[] => {
    const v = view();
    const out: Json[] = [
      metric("weir_events_received_total", "Messages the workers read from the partitions' streams.", "counter", [[{}, v.received]]),
      metric("weir_events_processed_total", "Events applied by handlers.", "counter", [[{}, v.processed]]),
      metric("weir_events_skipped_total", "Events skipped because their effect was stored before a restart.", "counter", [[{}, v.skipped]]),
      metric("weir_outputs_total", "Outputs emitted by handlers.", "counter", [[{}, v.emitted]]),
      metric("weir_timers_fired_total", "Timers fired.", "counter", [[{}, v.timersFired]]),
      metric(
        "weir_dead_letters_total",
        "Messages sent to the dead-letter subject, by error class.",
        "counter",
        Object.entries(totals.deadLetters).map(([reason, n]): [Labels, number] => [{ reason }, n]),
      ),
      metric("weir_handler_retries_total", "Handler attempts after a failed one.", "counter", [[{}, totals.retries]]),
      metric("weir_snapshots_total", "Snapshots taken by the workers.", "counter", [[{}, v.snapshots]]),
      metric("weir_consumer_lag_messages", "Messages left in each owned partition's stream after what its worker applied.", "gauge", [...v.lag].sort(([a], [b]) => a - b).map(([p, n]): [Labels, number] => [{ partition: p }, n])),
      metric("weir_repartition_lag_messages", "Messages left in the input stream for the repartition step (0 where another instance runs it).", "gauge", [[{}, v.repartitionLag]]),
      metric("weir_actors", "Actors in memory.", "gauge", [[{}, v.actors]]),
      metric("weir_state_bytes", "Bytes of the state of the actors in memory, as this process last stored it.", "gauge", [[{}, [...stateBytes.values()].reduce((a, b) => a + b, 0)]]),
      metric("weir_workers", "Worker threads running.", "gauge", [[{}, v.workers]]),
      metric("weir_partitions", "Partitions of the app.", "gauge", [[{}, v.partitions]]),
      metric("weir_partitions_owned", "Partitions this instance owns and runs.", "gauge", [[{}, v.owned.length]]),
      metric("weir_partition_owned", "1 for each partition this instance owns.", "gauge", v.owned.map((p): [Labels, number] => [{ partition: p }, 1])),
      metric("weir_ready", "1 when the app is connected and runs its partitions (see /readyz).", "gauge", [[{}, v.ready ? 1 : 0]]),
      histogram("weir_end_to_end_latency_seconds", "From an event's store in its partition's stream to the end of the round that applied it.", LATENCY_BOUNDS, totals.latency),
      histogram("weir_handler_duration_seconds", "Handler and onTimer runs: a sample, one run in 8 (the count is an eighth of the runs).", DURATION_BOUNDS, totals.handler),
      histogram("weir_snapshot_duration_seconds", "Snapshots, from the workers' start to their state being durable.", DURATION_BOUNDS, snapshotSeconds),
      histogram("weir_snapshot_size_bytes", "Bytes of actor state one snapshot wrote.", SIZE_BOUNDS, totals.snapshotBytes),
      histogram("weir_sink_batch_duration_seconds", "SQL sink batches (one transaction each), retries included.", DURATION_BOUNDS, totals.sink),
    ];
    if (Number.isFinite(v.watermark)) {
      out.push(
        metric("weir_watermark_seconds", "The app's event-time watermark (Unix seconds).", "gauge", [[{}, v.watermark / 1000]]),
        metric("weir_watermark_age_seconds", "How far the watermark is behind the clock.", "gauge", [[{}, v.watermarkAgeMs / 1000]]),
      );
    }
    return out;
  };

  return {
    contentType: processRegistry.contentType,
    /** A worker's report: its counts are added, its state bytes replace its last ones. */
    absorb(worker: number, t: Telemetry) {
      addTelemetry(totals, t);
      stateBytes.set(worker, t.stateBytes);
    },
    /** The workers of the last pool are gone (a restart): their state bytes no longer count. */
    forgetWorkers() {
      stateBytes.clear();
    },
    snapshotTaken(ms: number) {
      observe(snapshotSeconds, DURATION_BOUNDS, ms / 1000);
    },
    /** A dead letter sent on this thread (by the repartition step). */
    deadLetter(errorClass: string) {
      totals.deadLetters[errorClass] = (totals.deadLetters[errorClass] ?? 0) + 1;
    },
    summary(): MetricsSummary {
      const v = view();
      const q = (x: number, bounds: readonly number[], h: Hist) => quantile(x, bounds, h);
      const opt = <K extends string>(k: K, x: number | undefined) => (x === undefined ? {} : ({ [k]: x } as Record<K, number>));
      return {
        ...v,
        app,
        time: Date.now(),
        lag: [...v.lag].sort(([a], [b]) => a - b),
        deadLetters: { ...totals.deadLetters },
        latency: { ...opt("p50", q(0.5, LATENCY_BOUNDS, totals.latency)), ...opt("p90", q(0.9, LATENCY_BOUNDS, totals.latency)), ...opt("p99", q(0.99, LATENCY_BOUNDS, totals.latency)) },
        handler: { ...opt("p50", q(0.5, DURATION_BOUNDS, totals.handler)), ...opt("p99", q(0.99, DURATION_BOUNDS, totals.handler)) },
        latencyBuckets: { bounds: LATENCY_BOUNDS, counts: [...totals.latency.counts] },
      };
    },
    async text(): Promise<string> {
      // prom-client names a few gauges `_total` (nodejs_active_handles_total, ...): left out, as
      // Prometheus's conventions (and promtool) keep that suffix for counters.
      const process = (await processRegistry.getMetricsAsJSON()).filter((x) => !(String(x.type) === "gauge" && x.name.endsWith("_total")));
      const registry = AggregatorRegistry.aggregate([process, weirMetrics()] as Parameters<typeof AggregatorRegistry.aggregate>[0]);
      registry.setDefaultLabels({ app });
      return registry.metrics();
    },
  };
}

export type Prometheus = ReturnType<typeof createPrometheus>;
