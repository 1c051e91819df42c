// End-to-end throughput of the demo app (user-totals) against a bare nats.js consume loop
// (AckPolicy.None) over the same events, measured in the same run. Prints ratios, not verdicts.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { benchArgs } from "./args.ts";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { bareConsumeRate } from "./baseline.ts";
import { connectNats, ensureAppStreams, loadApp } from "../runtime/internal.ts";
import { appNames, msgpackCodec, produce, startRuntime } from "../runtime/mod.ts";
import { startNats } from "../runtime/testing/mod.ts";

const HELP = `Usage: npm run bench -- [--events N] [--repeats R] [--users U]

Publishes N demo events (default 300000) once, then, R times each (default 3), measures:
  baseline   a bare nats.js consume loop, AckPolicy.None, counting messages
  hand-rolled  the same loop that also decodes, sums per user and publishes one output per event
  weir W=1   the user-totals app end to end (decode, validate, dedup, emit, snapshot), 1 worker
  weir W=n   the same with one worker per core
  weir 2 instances  two runtimes of the app in this process, W=1 each, sharing its partitions
and prints events/s (median), the ratio to the baseline, and CPU µs per event: this process (all
its threads: main and workers) and the nats-server.
`;

const { events: N, repeats: R, users: USERS } = benchArgs(HELP, { events: 300_000, repeats: 3, users: 10_000 });

const APP = new URL("../apps/user-totals/main.ts", import.meta.url).pathname;
const app = await loadApp(APP);
const names = appNames(app.name);
await using nats = await startNats();
const nc = await connectNats(nats.url, "weir-bench");
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const streams = await ensureAppStreams(jsm, app);

const status = (s: string) => process.stderr.write(`\r\x1b[2K${s}`);
{
  let pending: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const u = i % USERS;
    pending.push(
      produce(js, `purchases.u${u}`, { event_id: `e${i}`, user_id: `u${u}`, amount: (i % 500) / 100, event_time: 1_700_000_000_000 + i }),
    );
    if (pending.length >= 2000) {
      await Promise.all(pending);
      pending = [];
      if (i % 20000 < 2000) status(`publishing ${i}/${N}`);
    }
  }
  await Promise.all(pending);
  status(`published ${N} events to ${streams.input}\n`);
}

/** CPU time used so far, µs: this process (every thread) and the nats-server (from /proc, 100 ticks/s). */
const cpuNow = () => {
  const u = process.cpuUsage();
  const f = readFileSync(`/proc/${nats.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return { self: u.user + u.system, server: (Number(f[11]) + Number(f[12])) * 10_000 };
};
interface Sample {
  rate: number;
  /** CPU µs per event: this process, the nats-server. */
  self: number;
  server: number;
}
/** Starts a measurement; the returned function ends it. */
const measure = () => {
  const t0 = performance.now();
  const c0 = cpuNow();
  return (): Sample => {
    const ms = performance.now() - t0;
    const c = cpuNow();
    return { rate: (N / ms) * 1000, self: (c.self - c0.self) / N, server: (c.server - c0.server) / N };
  };
};

async function baseline(): Promise<Sample> {
  const end = measure();
  await bareConsumeRate(js, jsm, streams.input, N);
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
  await jsm.consumers.add(streams.input, { name, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
  const c = await js.consumers.get(streams.input, name);
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
  await jsm.consumers.delete(streams.input, name);
  await jsm.streams.delete(outStream);
  return sample;
}

async function resetAppState(): Promise<void> {
  for (const s of [`KV_${names.bucket}`, names.output, names.dlq]) {
    await jsm.streams.delete(s).catch(() => {});
  }
}

/**
 * `instances` runtimes of the app in this process, `workers` each, from start to every one drained
 * (with more than one, the partitions are handed out while they run: a short lease TTL keeps that quick).
 */
async function weir(workers: number, instances = 1): Promise<Sample> {
  await resetAppState();
  const rts = await Promise.all(
    Array.from({ length: instances }, () => startRuntime({ app: APP, nats: nats.url, workers, logLevel: "warn", ...(instances > 1 ? { lockTtlMs: 1500 } : {}) })),
  );
  const end = measure();
  const processed = () => rts.reduce((n, rt) => n + rt.metrics().processed, 0);
  const timer = setInterval(() => status(`  weir ${instances}×W=${workers}: ${processed()}/${N}`), 500);
  await Promise.all(rts.map((rt) => rt.drained()));
  const sample = end();
  clearInterval(timer);
  const done = processed();
  await Promise.all(rts.map((rt) => rt.stop()));
  if (done !== N) throw new Error(`weir processed ${done} of ${N}`);
  return sample;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const contenders: Array<[string, () => Promise<Sample>]> = [
  ["baseline (nats.js consume, AckNone)", baseline],
  ["hand-rolled consume + publish/event", handRolled],
  ["weir W=1", () => weir(1)],
  [`weir W=${cpus().length}`, () => weir(cpus().length)],
  ["weir 2 instances × W=1", () => weir(1, 2)],
];
const samples: Sample[][] = contenders.map(() => []);
for (let r = 0; r < R; r++) {
  // Interleave the contenders so drift on a noisy machine hits them alike.
  for (const [i, [label, run]] of contenders.entries()) {
    status(`round ${r + 1}/${R}: ${label}`);
    samples[i]!.push(await run());
  }
}
status("");
const base = median(samples[0]!.map((x) => x.rate));
process.stdout.write(`\n${N} events, ${USERS} users, ${R} rounds, ${cpus().length} cores (medians; CPU µs per event: this process, all threads / nats-server)\n`);
contenders.forEach(([label], i) => {
  const xs = samples[i]!;
  const med = median(xs.map((x) => x.rate));
  const cpu = `${median(xs.map((x) => x.self)).toFixed(1).padStart(5)} / ${median(xs.map((x) => x.server)).toFixed(1).padStart(5)} µs`;
  process.stdout.write(
    `${label.padEnd(38)} ${Math.round(med).toString().padStart(9)} ev/s   ratio ${(med / base).toFixed(2)}   cpu ${cpu}   runs: ${xs.map((x) => Math.round(x.rate)).join(", ")}\n`,
  );
});
await nc.close();
