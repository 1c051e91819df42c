// End-to-end throughput of two apps on the same purchases (user-totals, one output per event; and
// quiet-totals, an aggregation that emits rarely) against a bare nats.js consume loop
// (AckPolicy.None) over the same events, measured in the same run. Prints ratios, not verdicts.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { benchArgs } from "./args.ts";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { bareConsumeRate } from "./baseline.ts";
import { connectNats, ensureAppStreams, loadApp, partitionsOf } from "../runtime/internal.ts";
import { appInput, appNames, msgpackCodec, produce, startRuntime } from "../runtime/mod.ts";
import { startNats } from "../runtime/testing/mod.ts";

const HELP = `Usage: npm run bench -- [--events N] [--repeats R] [--users U]

Publishes N demo purchases (default 300000) once to a plain stream and once to each app's
partitions (as weir's producers do), then, R times each (default 3), measures:
  baseline     a bare nats.js consume loop over the plain stream, AckPolicy.None, counting messages
  hand-rolled  the same loop that also decodes, sums per user and publishes one output per event
  user-totals  the demo app end to end (decode, validate, dedup, emit, snapshot): W=1, W=<cores>,
               and 2 and 3 instances in this process, W=1 each, sharing the app's partitions
  quiet-totals per-user totals that emit once per 1000 events of a user: W=1, W=<cores>, 2 and 3
               instances
and prints events/s (median), the ratio to the baseline (each run over a baseline run just before
it, the median of those: this box's speed drifts by 1.5x within minutes), and CPU µs per event:
this process's main thread, its other threads (the workers, and the JIT and GC), and the
nats-server. weir is measured as a long-running job, in its steady state: from its first event
processed (with several instances, from when each reads its share of the partitions) to its last;
the start before that (loading the app, spawning the workers, taking and sharing out the leases)
is printed apart.

BENCH_ONLY=<regex> measures the baseline and only the contenders whose label matches.
`;

const { events: N, repeats: R, users: USERS } = benchArgs(HELP, { events: 300_000, repeats: 3, users: 10_000 });

const DEMO = new URL("../apps/user-totals/main.ts", import.meta.url).pathname;
const QUIET = new URL("./apps/quiet-totals.ts", import.meta.url).pathname;
const apps = await Promise.all([DEMO, QUIET].map((path) => loadApp(path)));
await using nats = await startNats();
const nc = await connectNats(nats.url, "weir-bench");
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
for (const app of apps) await ensureAppStreams(jsm, app, { partitions: partitionsOf(app) });
/** The baseline's stream: the same events, unpartitioned, in one stream. */
const PLAIN = "bench_purchases";
await jsm.streams.add({ name: PLAIN, subjects: ["bench.purchases.>"] });
const inputs = apps.map((app) => appInput(app));

const status = (s: string) => process.stderr.write(`\r\x1b[2K${s}`);
{
  let pending: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const u = i % USERS;
    const e = { event_id: `e${i}`, user_id: `u${u}`, amount: (i % 500) / 100, event_time: 1_700_000_000_000 + i };
    pending.push(produce(js, `bench.purchases.u${u}`, e), ...inputs.map((input) => produce(js, `purchases.u${u}`, e, { input })));
    if (pending.length >= 3000) {
      await Promise.all(pending);
      pending = [];
      if (i % 20000 < 1000) status(`publishing ${i}/${N}`);
    }
  }
  await Promise.all(pending);
  status(`published ${N} events to ${PLAIN} and to the partitions of ${apps.map((a) => a.name).join(" and ")}\n`);
}

/** CPU ticks (1/100 s) of a /proc stat line: user + system. */
const ticks = (path: string) => {
  const f = readFileSync(path, "utf8").split(") ")[1]!.split(" ");
  return Number(f[11]) + Number(f[12]);
};
/** CPU time used so far, µs: this process (every thread), its main thread, and the nats-server. */
const cpuNow = () => {
  const u = process.cpuUsage();
  return { self: u.user + u.system, main: ticks(`/proc/self/task/${process.pid}/stat`) * 10_000, server: ticks(`/proc/${nats.pid}/stat`) * 10_000 };
};
interface Sample {
  rate: number;
  /** CPU µs per event: this process's main thread, its other threads, the nats-server. */
  main: number;
  others: number;
  server: number;
  /** Time from the start to the steady state, ms (weir only). */
  startMs?: number;
}
/** Starts a measurement over `events` events; the returned function ends it. */
const measure = (events = N) => {
  const t0 = performance.now();
  const c0 = cpuNow();
  return (): Sample => {
    const ms = performance.now() - t0;
    const c = cpuNow();
    const main = (c.main - c0.main) / events;
    return { rate: (events / ms) * 1000, main, others: (c.self - c0.self) / events - main, server: (c.server - c0.server) / events };
  };
};

async function baseline(): Promise<Sample> {
  const end = measure();
  await bareConsumeRate(js, jsm, PLAIN, N);
  return end();
}

/**
 * What a hand-rolled consumer doing the same job would write with nats.js: consume (AckNone),
 * decode, keep a total per user, publish one output per event with a message id, awaiting the
 * acks every 1000 events. No dedup state, snapshots or recovery.
 */
async function handRolled(): Promise<Sample> {
  const name = `bench_hand_${Date.now()}`;
  const outStream = `bench_hand_out_${Date.now()}`;
  await jsm.streams.add({ name: outStream, subjects: [`hand.${name}.>`] });
  await jsm.consumers.add(PLAIN, { name, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
  const c = await js.consumers.get(PLAIN, name);
  const totals = new Map<string, number>();
  const end = measure();
  const iter = await c.consume({ max_messages: 4096 });
  let n = 0;
  let acks: Promise<unknown>[] = [];
  for await (const m of iter) {
    const e = msgpackCodec.decode(m.data) as { user_id: string; amount: number };
    const total = (totals.get(e.user_id) ?? 0) + e.amount;
    totals.set(e.user_id, total);
    acks.push(js.publish(`hand.${name}.${e.user_id}`, msgpackCodec.encode({ user_id: e.user_id, total }), { msgID: `${m.seq}` }));
    if (acks.length >= 1000) {
      await Promise.all(acks);
      acks = [];
    }
    if (++n >= N) break;
  }
  await Promise.all(acks);
  const sample = end();
  iter.stop();
  await jsm.consumers.delete(PLAIN, name);
  await jsm.streams.delete(outStream);
  return sample;
}

/** A fresh start for an app: no state, outputs or dead letters (its partitions' streams stay). */
async function resetAppState(appName: string): Promise<void> {
  const names = appNames(appName);
  for (const s of [`KV_${names.bucket}`, `KV_${names.owners}`, names.output, names.dlq]) {
    await jsm.streams.delete(s).catch(() => {});
  }
}

/**
 * `instances` runtimes of an app in this process, `workers` each, started together (with more than
 * one, the partitions are handed out while they run: a short lease TTL keeps that quick). Measured
 * as a long-running job is, in its steady state: from the first event processed (with several
 * instances, from the moment each reads its share of the partitions) to the last, the rate and CPU
 * per event of the events in between. The start before it (loading the app, spawning workers,
 * taking and handing out the leases) is reported apart.
 */
async function weir(path: string, workers: number, instances = 1, metrics = true): Promise<Sample> {
  const app = apps.find((a) => a.name === (path === DEMO ? "user-totals" : "quiet-totals"))!;
  await resetAppState(app.name);
  const t0 = performance.now();
  let end: (() => Sample) | undefined;
  let first = 0;
  let startMs = 0;
  const rts: Awaited<ReturnType<typeof startRuntime>>[] = [];
  const processed = () => rts.reduce((n, rt) => n + rt.metrics().processed, 0);
  // Polled from the first instance up: it may process events before the others are started.
  // With several instances, the steady state begins once every one of them reads its share.
  const shared = () => {
    if (instances === 1) return true;
    const owned = rts.map((rt) => rt.metrics().owned.length);
    const p = partitionsOf(app);
    return rts.length === instances && owned.every((n) => n >= Math.floor(p / instances)) && owned.reduce((a, b) => a + b, 0) === p;
  };
  const poll = setInterval(() => {
    if (processed() === 0 || !shared()) return;
    clearInterval(poll);
    [end, first, startMs] = [measure(N - processed()), processed(), performance.now() - t0];
  }, 1);
  await Promise.all(
    Array.from({ length: instances }, () =>
      startRuntime({ app: path, nats: nats.url, workers, logLevel: "warn", metrics, ...(instances > 1 ? { lockTtlMs: 1500 } : {}) }).then((rt) => void rts.push(rt)),
    ),
  );
  const timer = setInterval(() => status(`  ${app.name} ${instances}×W=${workers}: ${processed()}/${N}`), 500);
  // Measured to the last event processed (the runtimes are in this process: their counts are at
  // hand); drained() after that also waits for the other instances' snapshots, which is not work.
  // Polled every 25 ms: this loop runs on the main thread it measures (every 5 ms cost it ~12 ms/s).
  for (let last = 0, since = performance.now(); processed() < N; await Bun.sleep(25)) {
    if (processed() !== last) [last, since] = [processed(), performance.now()];
    else if (performance.now() - since > 60_000) throw new Error(`${app.name}: stuck at ${last} of ${N} processed for 60 s`);
  }
  if (!end || first > N * 0.9) throw new Error(`${app.name}: ${first} of ${N} events were processed before the steady state; too few events to measure`);
  const sample = { ...end(), startMs };
  await Promise.all(rts.map((rt) => rt.drained()));
  clearInterval(timer);
  const done = processed();
  await Promise.all(rts.map((rt) => rt.stop()));
  if (done !== N) throw new Error(`${app.name} processed ${done} of ${N}`);
  return sample;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const contenders: Array<[string, () => Promise<Sample>]> = [
  ["baseline (nats.js consume, AckNone)", baseline],
  ["hand-rolled consume + publish/event", handRolled],
  ["user-totals W=1", () => weir(DEMO, 1)],
  [`user-totals W=${cpus().length}`, () => weir(DEMO, cpus().length)],
  ["user-totals 2 instances × W=1", () => weir(DEMO, 1, 2)],
  ["user-totals 3 instances × W=1", () => weir(DEMO, 1, 3)],
  ["quiet-totals W=1", () => weir(QUIET, 1)],
  [`quiet-totals W=${cpus().length}`, () => weir(QUIET, cpus().length)],
  [`quiet-totals W=${cpus().length}, metrics off`, () => weir(QUIET, cpus().length, 1, false)],
  ["quiet-totals 2 instances × W=1", () => weir(QUIET, 1, 2)],
  ["quiet-totals 3 instances × W=1", () => weir(QUIET, 1, 3)],
];
/** `BENCH_ONLY=<regex>` measures the baseline and the contenders whose label matches. */
const only = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY) : undefined;
if (only) contenders.splice(1, contenders.length, ...contenders.slice(1).filter(([label]) => only.test(label)));
const samples: Sample[][] = contenders.map(() => []);
/** Per contender, the rate of the bare loop measured just before each of its runs (the box drifts by 1.5x within minutes). */
const paired: number[][] = contenders.map(() => []);
for (let r = 0; r < R; r++) {
  // Interleave the contenders so drift on a noisy machine hits them alike.
  for (const [i, [label, run]] of contenders.entries()) {
    // The baseline runs before each contender (below); alone only when there is no contender.
    if (i === 0 && contenders.length > 1) continue;
    if (i > 0) {
      status(`round ${r + 1}/${R}: baseline before ${label}`);
      const b = await baseline();
      samples[0]!.push(b);
      paired[i]!.push(b.rate);
    }
    status(`round ${r + 1}/${R}: ${label}`);
    samples[i]!.push(await run());
  }
}
status("");
process.stdout.write(
  `\n${N} events, ${USERS} users, ${R} rounds, ${cpus().length} cores (medians; ratio: the median of each run's rate over the bare loop's just before it; CPU µs per event: main thread / other threads / nats-server)\n`,
);
contenders.forEach(([label], i) => {
  const xs = samples[i]!;
  const med = median(xs.map((x) => x.rate));
  const ratio = i === 0 ? 1 : median(xs.map((x, k) => x.rate / paired[i]![k]!));
  const us = (f: (x: Sample) => number) => median(xs.map(f)).toFixed(2).padStart(6);
  const start = xs[0]!.startMs !== undefined ? `   start ${median(xs.map((x) => x.startMs!)).toFixed(0).padStart(5)} ms` : "";
  process.stdout.write(
    `${label.padEnd(36)} ${Math.round(med).toString().padStart(9)} ev/s   ratio ${ratio.toFixed(2)}   cpu ${us((x) => x.main)} / ${us((x) => x.others)} / ${us((x) => x.server)} µs${start}   runs: ${xs.map((x) => Math.round(x.rate)).join(", ")}\n`,
  );
});
const on = contenders.findIndex(([l]) => l === `quiet-totals W=${cpus().length}`);
const off = contenders.findIndex(([l]) => l.endsWith("metrics off"));
if (on > 0 && off > 0) {
  const ratioOf = (i: number) => median(samples[i]!.map((x, k) => x.rate / paired[i]![k]!));
  process.stdout.write(`metrics on / off (quiet-totals W=${cpus().length}): ${(ratioOf(on) / ratioOf(off)).toFixed(3)}\n`);
}
process.stdout.write("goals: main thread < 0.5 µs per event; quiet-totals ≥ 0.5× the baseline; cost per event flat in the number of instances; metrics on ≥ 0.97× off\n");
await nc.close();
