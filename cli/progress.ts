import type { RuntimeMetrics } from "../runtime/mod.ts";

/** Compact number: 12345 -> "12.3k". */
export function compact(n: number): string {
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

/**
 * A live counter line: rates since the previous call and lag.
 *
 * @example
 * const line = progressLine(); setInterval(() => process.stderr.write(`\r${line(rt.metrics())}`), 1000);
 */
export function progressLine(): (m: RuntimeMetrics, now?: number) => string {
  let prev: { t: number; received: number; emitted: number } | undefined;
  return (m, now = performance.now()) => {
    const dt = prev ? (now - prev.t) / 1000 : 0;
    const inRate = prev && dt > 0 ? (m.received - prev.received) / dt : 0;
    const outRate = prev && dt > 0 ? (m.emitted - prev.emitted) / dt : 0;
    prev = { t: now, received: m.received, emitted: m.emitted };
    return (
      `in ${compact(inRate)}/s  out ${compact(outRate)}/s  lag ${compact(m.lag)}  ` +
      `processed ${compact(m.processed)}  dlq ${compact(m.dlq)}  actors ${compact(m.actors)}  snapshots ${m.snapshots}`
    );
  };
}
