// End-to-end throughput of the demo app (user-totals) against a bare nats.js consume loop
// (AckPolicy.None) over the same events, measured in the same run. Prints ratios, not verdicts.
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
and prints events/s (median) and the ratio to the baseline.
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

const baseline = () => bareConsumeRate(js, jsm, streams.input, N);

/**
 * What a hand-rolled consumer doing the same job would write with nats.js: consume (AckNone),
 * decode, keep a total per user, publish one output per event with a message id, awaiting the
 * acks every 1000 events. No dedup state, snapshots or recovery.
 */
async function handRolled(): Promise<number> {
  const name = `bench_hand_${Date.now()}`;
  const outStream = `bench_hand_out_${Date.now()}`;
  await jsm.streams.add({ name: outStream, subjects: [`hand.${name}.>`] });
  await jsm.consumers.add(streams.input, { name, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
  const c = await js.consumers.get(streams.input, name);
  const totals = new Map<string, number>();
  const t0 = performance.now();
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
  const ms = performance.now() - t0;
  iter.stop();
  await jsm.consumers.delete(streams.input, name);
  await jsm.streams.delete(outStream);
  return (N / ms) * 1000;
}

async function resetAppState(): Promise<void> {
  for (const s of [`KV_${names.bucket}`, names.output, names.dlq]) {
    await jsm.streams.delete(s).catch(() => {});
  }
}

async function weir(workers: number): Promise<number> {
  await resetAppState();
  const rt = await startRuntime({ app: APP, nats: nats.url, workers, logLevel: "warn" });
  const t0 = performance.now();
  const timer = setInterval(() => status(`  weir W=${workers}: ${rt.metrics().processed}/${N}`), 500);
  await rt.drained();
  const ms = performance.now() - t0;
  clearInterval(timer);
  const m = rt.metrics();
  await rt.stop();
  if (m.processed !== N) throw new Error(`weir processed ${m.processed} of ${N}`);
  return (N / ms) * 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rows: Array<[string, number[]]> = [
  ["baseline (nats.js consume, AckNone)", []],
  ["hand-rolled consume + publish/event", []],
  ["weir W=1", []],
  [`weir W=${cpus().length}`, []],
];
for (let r = 0; r < R; r++) {
  // Interleave the contenders so drift on a noisy machine hits them alike.
  status(`round ${r + 1}/${R}: baseline`);
  rows[0]![1].push(await baseline());
  status(`round ${r + 1}/${R}: hand-rolled`);
  rows[1]![1].push(await handRolled());
  rows[2]![1].push(await weir(1));
  rows[3]![1].push(await weir(cpus().length));
}
status("");
const base = median(rows[0]![1]);
process.stdout.write(`\n${N} events, ${USERS} users, ${R} rounds, ${cpus().length} cores (medians)\n`);
for (const [label, xs] of rows) {
  const med = median(xs);
  process.stdout.write(
    `${label.padEnd(38)} ${Math.round(med).toString().padStart(9)} ev/s   ratio ${(med / base).toFixed(2)}   runs: ${xs.map((x) => Math.round(x)).join(", ")}\n`,
  );
}
await nc.close();
