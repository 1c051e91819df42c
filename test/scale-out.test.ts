import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { appNames, ensureAppStreams, kvSnapshotStore, kvViews, loadApp, openSink, produce } from "../runtime/internal.ts";
import { client, orderWorkload, readStream, rng, scratchSchema, spawnWeir, startCluster, storedCoverage, storedProgress, storedStates, waitFor, type WeirChild } from "../runtime/testing/mod.ts";
import { generate } from "../apps/testing/mod.ts";
import ledgerApp, { type Payment } from "../apps/payments-ledger/main.ts";

// Part of `npm test`; `npm run test:chaos` runs it alone (about 2 minutes).
// Scale-out under faults, on a real 3-node cluster with R3 streams and buckets: three instances
// with two workers each, SIGKILLed and replaced at random moments while events arrive, one more
// instance joining and one leaving cleanly, one NATS node killed and restarted. What every user
// of the app depends on must hold at the end: state, rows and views equal brute force, each output
// exactly once, per-key order.

const ORDER_APP = new URL("../runtime/testdata/order-app.ts", import.meta.url).pathname;
const LEDGER_APP = new URL("../apps/payments-ledger/main.ts", import.meta.url).pathname;
const ROUNDS = 10;

interface Chaos {
  /** Kills of instances, and the progress stored when each happened. */
  killedAt: number[];
  lastSeq: number;
}

/**
 * Publishes events `from..` with message ids by position, trying a failed publish again (a NATS
 * node restarting moves stream leaders: "no responders" for a moment) so each is stored once.
 * Returns the highest stream sequence.
 */
async function publishSurely(js: JetStreamClient, events: readonly { subject: string; value: unknown }[], from: number): Promise<number> {
  let last = 0;
  for (let i = 0; i < events.length; i += 1_000) {
    const batch = events.slice(i, i + 1_000).map((e, j) => ({ ...e, id: `ev-${from + i + j}` }));
    for (let attempt = 1; batch.length > 0; attempt++) {
      const acks = await Promise.allSettled(batch.map((e) => produce(js, e.subject, e.value, { msgID: e.id })));
      const failed = batch.filter((_, j) => acks[j]!.status === "rejected");
      for (const a of acks) if (a.status === "fulfilled") last = Math.max(last, a.value.seq);
      if (failed.length > 0 && attempt >= 60) throw (acks.find((a) => a.status === "rejected") as PromiseRejectedResult).reason;
      batch.splice(0, batch.length, ...failed);
      if (failed.length > 0) await Bun.sleep(500);
    }
  }
  return last;
}

/** How far in the input the furthest partition's stored state reaches (-1 when the cluster does not answer: a node is restarting). */
async function reached(nc: NatsConnection, app: string, partitions: number): Promise<number> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    try {
      return (await storedCoverage(nc, app, partitions)).most;
    } catch {
      await Bun.sleep(1_000);
    }
  }
  return -1;
}

/** SIGTERM to a started instance: it hands its partitions back and exits 0 (its log is shown if not, or if it hangs). */
async function expectCleanStop(p: WeirChild): Promise<void> {
  // A process still loading (the box is busy) has no signal handler yet: a clean stop is of a running instance.
  await p.started;
  p.proc.kill("SIGTERM");
  const code = await Promise.race([p.proc.exited, Bun.sleep(60_000).then(() => "still running 60 s after SIGTERM")]);
  if (typeof code === "string") p.proc.kill("SIGKILL");
  await p.out.drained;
  expect({ code, log: code === 0 ? "" : p.out.log }).toEqual({ code: 0, log: "" });
}

/** Publishes the events in ROUNDS slices while instances are killed, replaced, added, removed, and a node restarts; returns once all is processed and every instance stopped. */
async function chaos(appPath: string, extraArgs: string[], events: readonly { subject: string; value: unknown }[], seed: number): Promise<Chaos & { url: string; done: () => Promise<void> }> {
  const cluster = await startCluster(3);
  const c = await client(cluster.url);
  const alive: WeirChild[] = [];
  try {
    return await underFaults(cluster, c, alive, appPath, extraArgs, events, seed);
  } catch (err) {
    // The instances, nodes and connection go with a failed run (a passing one's caller reads them first).
    for (const p of alive) p.proc.kill("SIGKILL");
    await c[Symbol.asyncDispose]();
    await cluster[Symbol.asyncDispose]();
    throw err;
  }
}

async function underFaults(
  cluster: Awaited<ReturnType<typeof startCluster>>,
  c: Awaited<ReturnType<typeof client>>,
  alive: WeirChild[],
  appPath: string,
  extraArgs: string[],
  events: readonly { subject: string; value: unknown }[],
  seed: number,
): Promise<Chaos & { url: string; done: () => Promise<void> }> {
  const app = await loadApp(appPath);
  await ensureAppStreams(await jetstreamManager(c.nc), app, { replicas: 3 });
  const parts = app.partitions ?? 32;
  // The state bucket R3 before any instance creates it.
  await kvSnapshotStore(c.nc, { bucket: appNames(app.name).bucket, replicas: 3 });
  const args = [appPath, "--nats", cluster.url, "--workers", "2", "--no-progress", "--no-http", "--no-registry", "--lock-ttl", "1500", "--replicas", "3", "--max-in-flight", "1024", ...extraArgs];
  const random = rng(seed);
  alive.push(spawnWeir(args), spawnWeir(args), spawnWeir(args));
  const killedAt: number[] = [];
  let lastSeq = 0;
  const slice = Math.ceil(events.length / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    lastSeq = Math.max(lastSeq, await publishSurely(c.js, events.slice(round * slice, (round + 1) * slice), round * slice));
    // Soon enough after a slice that a kill often lands while it is being processed.
    await Bun.sleep(200 + random() * 2_500);
    const victim = alive.splice(Math.floor(random() * alive.length), 1)[0]!;
    // How far in the input the furthest partition's stored state reaches: work was under way when between 0 and the end.
    killedAt.push(await reached(c.nc, app.name, parts));
    victim.proc.kill("SIGKILL");
    alive.push(spawnWeir(args));
    if (round === 3) alive.push(spawnWeir(args)); // one joins
    if (round === 6) {
      // one leaves cleanly: its partitions move at once
      const leaving = alive.shift()!;
      await expectCleanStop(leaving);
    }
    if (round === 5) {
      // A NATS node dies for a while and comes back: R3 streams and buckets keep the app going.
      await cluster.nodes[1]!.kill();
      await Bun.sleep(3_000);
      await cluster.nodes[1]!.restart();
      await cluster.ready();
    }
  }
  await waitFor(async () => (await storedProgress(c.nc, app.name, parts)) >= lastSeq, 120_000, "the instances to process every event").catch((err) => {
    for (const p of alive) process.stderr.write(`--- instance log tail:\n${p.out.log.slice(-3000)}\n`);
    throw err;
  });
  await Promise.all(alive.map(expectCleanStop));
  process.stderr.write(`  ${app.name}: furthest stored partition at each SIGKILL: ${killedAt.join(", ")} of ${lastSeq}\n`);
  expect(killedAt.some((p) => p > 0 && p < lastSeq)).toBe(true);
  return {
    killedAt,
    lastSeq,
    url: cluster.url,
    async done() {
      await c[Symbol.asyncDispose]();
      await cluster[Symbol.asyncDispose]();
    },
  };
}

describe("scale-out under faults (3-node cluster, 3 instances × 2 workers)", () => {
  test("order app: exact state and per-key order, one output per event", async () => {
    const { events, expected } = orderWorkload(31, 40_000, 2_000, 50);
    const run = await chaos(ORDER_APP, [], events, 31);
    try {
      await using c = await client(run.url);
      const states = await storedStates(c.nc, appNames("order").bucket);
      expect(states.size).toBe(expected.size);
      for (const [k, e] of expected) {
        const s = states.get(`acc/${k}`)?.state as { sum: number; count: number; seqs: number[]; outOfOrder: number } | undefined;
        expect({ k, sum: s?.sum, count: s?.count, outOfOrder: s?.outOfOrder }).toEqual({ k, ...e, outOfOrder: 0 });
        expect(s!.seqs).toEqual([...s!.seqs].sort((a, b) => a - b));
      }
      // Every event's output once: the deterministic message ids let JetStream drop the repeats.
      const outputs = await readStream(c.nc, appNames("order").output);
      const ids = outputs.map((o) => (o.value as { id: number }).id);
      expect(ids.length).toBe(events.length);
      expect(new Set(ids).size).toBe(events.length);
    } finally {
      await run.done();
    }
  }, 400_000);

  // The ledger's rows on each SQL sink: three instances' workers writing one PostgreSQL schema, or one SQLite file.
  const SINKS: [string, () => Promise<{ url: () => string } & AsyncDisposable>][] = [
    ["PostgreSQL", scratchSchema],
    [
      "SQLite",
      async () => {
        const dir = mkdtempSync(join(tmpdir(), "weir-chaos-"));
        return { url: () => `sqlite:${join(dir, "ledger.db")}`, [Symbol.asyncDispose]: async () => rmSync(dir, { recursive: true, force: true }) };
      },
    ],
  ];
  test.each(SINKS)("payments ledger on %s: one transaction row per payment, balances and the view equal brute force", async (_name, openDb) => {
    const CURRENCIES = ["EUR", "USD", "GBP"];
    const events = generate<Payment>(
      { seed: 17, n: 30_000, stepMs: 100, outOfOrdernessMs: 30_000, latenessMs: 0, tooLateMs: 1, tooLateRate: 0, lateRate: 0.1, dupRate: 0.1 },
      (i, time, rnd) => {
        const a = Math.floor(rnd() * 2_000);
        const value: Payment = { event_id: `pay-${i}`, account_id: `acct-${a}`, amount: Math.floor(rnd() * 25_000) - 5_000, currency: CURRENCIES[a % 3]!, event_time: time };
        return { subject: `payments.${value.account_id}`, value, id: value.event_id };
      },
    );
    const distinct = new Map<string, Payment>();
    for (const e of events) if (!distinct.has(e.id)) distinct.set(e.id, e.value);
    const balances = new Map<string, number>();
    for (const p of distinct.values()) balances.set(p.account_id, (balances.get(p.account_id) ?? 0) + p.amount);

    await using db = await openDb();
    const run = await chaos(LEDGER_APP, ["--sink", db.url()], events, 17);
    try {
      const sink = openSink(db.url(), { scope: "ledger" });
      await sink.prepare(ledgerApp.tables!);
      const tx = await sink.rows("transactions");
      expect(tx.length).toBe(distinct.size);
      for (const row of tx) expect(row.amount).toBe(distinct.get(row.event_id as string)!.amount);
      const stored = await sink.rows("balances");
      expect(new Map(stored.map((r) => [r.account_id as string, r.balance]))).toEqual(balances);
      await sink.close();
      await using c = await client(run.url);
      const view = await (await kvViews(c.nc, appNames("ledger").views)).list("balances");
      expect(new Map(view.map(({ key, value }) => [key, (value as { balance: number }).balance]))).toEqual(balances);
    } finally {
      await run.done();
    }
  }, 400_000);
});
