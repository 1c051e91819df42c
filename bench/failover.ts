// Failover time of an app run as two instances: one is SIGKILLed, the other takes its partitions
// once their leases expire. Measured from the kill to the survivor's workers reading every
// partition, over repeated kills (the killed one is started again each time). Prints each time,
// the median and the maximum, beside the lease TTL they are bound by. Not a test: no thresholds.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { benchArgs } from "./args.ts";
import { connectNats, ensureAppStreams, loadApp, partitionsOf } from "../runtime/internal.ts";
import { appInput, produce } from "../runtime/mod.ts";
import { spawnWeir, startNats, waitFor, type WeirChild } from "../runtime/testing/mod.ts";

const HELP = `Usage: npx bun bench/failover.ts [--kills K] [--ttl MS] [--rate R] [--keys N]

Publishes one event for each of N users first (default 1000000: the partition streams hold N
distinct subjects, the case where a wildcard-filtered consumer would scan them), then runs the
user-totals app as two instances (W=1 each, lease TTL --ttl, default 1500 ms) while a
producer publishes --rate events/s (default 2000) to its partitions; K times (default 20)
SIGKILLs one instance at a random moment, measures the time until the other reads every
partition, and starts the killed one again. Prints each failover, the median and the maximum.
`;

const { kills: K, ttl: TTL, rate: RATE, keys: KEYS } = benchArgs(HELP, { kills: 20, ttl: 1500, rate: 2000, keys: 1_000_000 });
const APP = new URL("../apps/user-totals/main.ts", import.meta.url).pathname;
const app = await loadApp(APP);
const P = partitionsOf(app);
await using nats = await startNats();
const nc = await connectNats(nats.url, "weir-bench-failover");
const js = jetstream(nc);
await ensureAppStreams(await jetstreamManager(nc), app, { partitions: P });
const input = appInput(app);

// The backlog: one event per key, many publishes in flight.
const WINDOW = 2_000;
for (let from = 0; from < KEYS; from += WINDOW) {
  const to = Math.min(KEYS, from + WINDOW);
  await Promise.all(
    Array.from({ length: to - from }, (_, j) => {
      const u = `k${from + j}`;
      return produce(js, `purchases.${u}`, { event_id: `k${from + j}`, user_id: u, amount: 1, event_time: Date.now() }, { msgID: `k${from + j}`, input });
    }),
  );
  if (to % 50_000 === 0 || to === KEYS) process.stderr.write(`\r\x1b[2Kpublished ${to} of ${KEYS} keys`);
}
process.stderr.write("\n");

// A steady trickle of events, so each owner has work when it is killed.
let producing = true;
const producer = (async () => {
  for (let i = 0; producing; i++) {
    const u = `u${i % 5_000}`;
    await produce(js, `purchases.${u}`, { event_id: `e${i}`, user_id: u, amount: 1, event_time: Date.now() }, { msgID: `e${i}`, input });
    if (i % 100 === 99) await Bun.sleep(100_000 / RATE);
  }
})();

const args = [APP, "--nats", nats.url, "--workers", "1", "--no-progress", "--no-http", "--no-registry", "--lock-ttl", String(TTL)];
const half = `${P / 2} of ${P} partitions`;
/** Waits until each instance's log (since it was last cleared) says it owns half the partitions. */
const sharing = async (xs: WeirChild[]) => waitFor(() => xs.every((x) => x.out.log.includes(half)), 30_000, "both instances to own half the partitions");

const first = spawnWeir(args);
await first.started;
const pair: WeirChild[] = [first, spawnWeir(args)];
await pair[1]!.started;
await sharing(pair);
const times: number[] = [];
for (let k = 0; k < K; k++) {
  await Bun.sleep(500 + Math.random() * 1500);
  const v = Math.floor(Math.random() * 2);
  const victim = pair[v]!;
  const survivor = pair[1 - v]!;
  survivor.out.log = "";
  const t0 = performance.now();
  victim.proc.kill("SIGKILL");
  await waitFor(() => survivor.out.log.includes(`${P} partitions on`), 30_000, "the survivor to take every partition");
  times.push(performance.now() - t0);
  process.stderr.write(`\r\x1b[2Kkill ${k + 1}/${K}: ${Math.round(times.at(-1)!)} ms`);
  await victim.proc.exited;
  survivor.out.log = "";
  const fresh = spawnWeir(args);
  pair[v] = fresh;
  await fresh.started;
  await sharing(pair);
}
producing = false;
await producer;
for (const x of pair) {
  x.proc.kill("SIGTERM");
  await x.proc.exited;
}
await nc.close();
const sorted = [...times].sort((a, b) => a - b);
process.stderr.write("\n");
process.stdout.write(
  `failover over ${K} SIGKILLs of one of two instances (${P} partitions holding ${KEYS} distinct keys, lease TTL ${TTL} ms, ${RATE} ev/s): ` +
    `median ${Math.round(sorted[Math.floor(K / 2)]!)} ms, max ${Math.round(sorted[K - 1]!)} ms (kill to the survivor reading every partition)\n` +
    `  each: ${times.map((t) => Math.round(t)).join(", ")}\n`,
);
