// What the metrics cost the actor host per event: the quiet-totals app on the in-memory store and
// publisher (no broker, so nothing but the host is timed), with its measurements on and off,
// interleaved. The end-to-end bench (`npm run bench`, its "metrics off" row) is too noisy on a
// small shared box to see a difference of this size.
import { benchArgs } from "./args.ts";
import { loadApp, partitionOf, systemScheduler, type RoutedEvent } from "../runtime/internal.ts";
import { consoleLogger, createActorHost, memoryPublisher, memorySnapshotStore, newTelemetry } from "../runtime/internal.ts";

const HELP = `Usage: bun bench/host-metrics.ts [--events N] [--repeats R] [--users U]

The actor host's time per event with its metrics measurements on and off (median of R runs of
each, interleaved), and their ratio (goal: metrics on >= 0.97x off in throughput).
`;
const { events: N, repeats: R, users: USERS } = benchArgs(HELP, { events: 400_000, repeats: 7, users: 10_000 });
const app = await loadApp(new URL("./apps/quiet-totals.ts", import.meta.url).pathname);
const P = 32;
const ROUND = 512;
const events: RoutedEvent[] = [];
for (let i = 1; i <= N; i++) {
  const key = `u${i % USERS}`;
  const t = 1_700_000_000_000 + i;
  events.push([i, t, `purchases.${key}`, 0, key, partitionOf(key, P), { event_id: `e${i}`, user_id: key, amount: (i % 100) + 0.5, event_time: t }]);
}

/** µs of host time per event. */
async function run(metrics: boolean): Promise<number> {
  const host = createActorHost({
    app,
    partitions: Array.from({ length: P }, (_, p) => p),
    store: memorySnapshotStore(),
    publisher: memoryPublisher(),
    dlqSubject: "dlq",
    scheduler: systemScheduler,
    log: consoleLogger("silent"),
    ...(metrics ? { telemetry: newTelemetry() } : {}),
  });
  await host.init();
  const t0 = performance.now();
  for (let i = 0; i < N; i += ROUND) {
    const round = events.slice(i, i + ROUND);
    const r = await host.process({ id: i, through: round[round.length - 1]![0], events: round });
    if (r.processed !== round.length) throw new Error("the bench's events did not all apply");
  }
  return ((performance.now() - t0) * 1000) / N;
}

const on: number[] = [];
const off: number[] = [];
for (let r = 0; r < R; r++) {
  process.stderr.write(`\r\x1b[2Kround ${r + 1}/${R}`);
  // Each goes first in every other round: the garbage a run leaves lands in the one after it.
  if (r % 2 === 0) {
    off.push(await run(false));
    on.push(await run(true));
  } else {
    on.push(await run(true));
    off.push(await run(false));
  }
  Bun.gc(true);
}
process.stderr.write("\r\x1b[2K");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
process.stdout.write(
  `host µs per event (median of ${R}): metrics off ${median(off).toFixed(3)}, on ${median(on).toFixed(3)}; throughput on / off ${(median(off) / median(on)).toFixed(3)} (goal >= 0.97)\n`,
);
