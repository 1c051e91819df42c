import { z } from "zod";
import { avg, defineApp, subjectToken, tumbling, windowedActor, type WindowResult } from "../../actors/mod.ts";

export const WINDOW_MS = 10_000;
export const LATENESS_MS = 10_000;
export const OUT_OF_ORDERNESS_MS = 2_000;
/** Average temperature (°C) above which a window raises an alert. */
export const THRESHOLD = 30;

export const Reading = z.object({
  event_id: z.string().min(1),
  device_id: z.string().min(1),
  temperature: z.number().finite(),
  event_time: z.number().int(),
});
export type Reading = z.infer<typeof Reading>;

/**
 * Per-device average temperature over 10-second tumbling windows. A window whose average exceeds
 * the threshold raises `iot.alert.<device>`; if a late reading then brings it back under, a second
 * alert message with `cleared: true` withdraws it (so the last alert message of a window is right).
 */
export const deviceAverages = windowedActor({
  name: "device-avg",
  input: "iot.readings.>",
  key: { field: "device_id" },
  event: Reading,
  value: (e) => e.temperature,
  window: tumbling(WINDOW_MS),
  aggregate: avg(),
  allowedLatenessMs: LATENESS_MS,
  dedup: { id: (e) => e.event_id },
  output: (device) => `iot.avg.${device}`,
  lateOutput: (device) => `iot.late.${device}`,
  extraOutputs: ["iot.alert.*"],
  onResult(r: WindowResult<number | null>, emit, memo) {
    const id = `a${r.start}`;
    const hot = r.value !== null && r.value > THRESHOLD;
    if (hot && !memo[id]) {
      memo[id] = true;
      emit(`iot.alert.${subjectToken(r.key)}`, { device: r.key, start: r.start, end: r.end, avg: r.value, cleared: false });
    } else if (!hot && memo[id]) {
      memo[id] = false;
      emit(`iot.alert.${subjectToken(r.key)}`, { device: r.key, start: r.start, end: r.end, avg: r.value, cleared: true });
    }
    // Alert flags of windows past their lateness can go.
    for (const k of Object.keys(memo)) if (Number(k.slice(1)) < r.start - 2 * (WINDOW_MS + LATENESS_MS)) delete memo[k];
  },
});

export default defineApp({
  name: "iot",
  actors: [deviceAverages],
  partitions: 8,
  eventTime: { field: "event_time" },
  watermark: { outOfOrdernessMs: OUT_OF_ORDERNESS_MS, idleMs: 60_000 },
  snapshot: { everyEvents: 2_000, everyMs: 200 },
});
