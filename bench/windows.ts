// Throughput of two event-time apps (clickstream: hopping windows with distinct counts; sessions:
// session windows) against a bare nats.js consume loop over the same stream, measured in the same
// run. Prints ratios, not verdicts.
import { cpus } from "node:os";
import { benchArgs } from "./args.ts";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { bareConsumeRate } from "./baseline.ts";
import { connectNats, ensureAppStreams, loadApp } from "../runtime/internal.ts";
import { appNames, produce, startRuntime } from "../runtime/mod.ts";
import { startNats } from "../runtime/testing/mod.ts";
import type { Generated } from "../apps/testing/mod.ts";
import { workload as clicks } from "../apps/clickstream/testdata/workload.ts";
import { workload as activity } from "../apps/sessions/testdata/workload.ts";

const HELP = `Usage: bun bench/windows.ts [--events N] [--repeats R] [--workers W]

For each app (clickstream: active users, hopping 1 min / 5 s, distinct count; sessions: 30 min
gap session windows), publishes its fixed-seed workload of about N events (default 100000; ~10%
late, ~5% too late, ~10% duplicates), then R times (default 3) measures a bare nats.js consume loop
(AckPolicy.None) over that stream and the app end to end with W workers (default: cores), and
prints events/s (median) and the ratio to the bare loop.
`;

const { events: N, repeats: R, workers: W } = benchArgs(HELP, { events: 100_000, repeats: 3, workers: cpus().length });

const status = (s: string) => process.stderr.write(`\r\x1b[2K${s}`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await using nats = await startNats();
const nc = await connectNats(nats.url, "weir-bench");
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);

async function measure(label: string, appPath: string, events: Generated<unknown>[]): Promise<string[]> {
  const app = await loadApp(appPath);
  const names = appNames(app.name);
  const streams = await ensureAppStreams(jsm, app);
  let pending: Promise<unknown>[] = [];
  for (let i = 0; i < events.length; i++) {
    pending.push(produce(js, events[i]!.subject, events[i]!.value));
    if (pending.length >= 2000) {
      await Promise.all(pending);
      pending = [];
      status(`${label}: publishing ${i + 1}/${events.length}`);
    }
  }
  await Promise.all(pending);
  const total = events.length;

  const baseline = () => bareConsumeRate(js, jsm, streams.input, total);
  const weir = async () => {
    for (const s of [`KV_${names.bucket}`, names.output, names.dlq]) await jsm.streams.delete(s).catch(() => {});
    const rt = await startRuntime({ app: appPath, nats: nats.url, workers: W, logLevel: "warn" });
    const t0 = performance.now();
    const timer = setInterval(() => status(`${label}: weir ${rt.metrics().received}/${total}`), 500);
    await rt.drained();
    const ms = performance.now() - t0;
    clearInterval(timer);
    await rt.stop();
    return (total / ms) * 1000;
  };
  const base: number[] = [];
  const app_: number[] = [];
  for (let r = 0; r < R; r++) {
    status(`${label}: round ${r + 1}/${R}`);
    base.push(await baseline());
    app_.push(await weir());
  }
  const b = median(base);
  const row = (name: string, xs: number[]) =>
    `${name.padEnd(44)} ${Math.round(median(xs)).toString().padStart(9)} ev/s   ratio ${(median(xs) / b).toFixed(2)}   runs: ${xs.map((x) => Math.round(x)).join(", ")}`;
  return [row(`${label}: bare consume loop (AckNone)`, base), row(`${label}: weir, W=${W}`, app_)];
}

const lines = [
  ...(await measure("clickstream", new URL("../apps/clickstream/main.ts", import.meta.url).pathname, clicks(31, N))),
  ...(await measure("sessions", new URL("../apps/sessions/main.ts", import.meta.url).pathname, activity(41, N))),
];
status("");
process.stdout.write(`\n~${N} events per app (+~10% duplicates), ${R} rounds, ${cpus().length} cores (medians)\n${lines.join("\n")}\n`);
await nc.close();
