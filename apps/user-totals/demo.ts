// `npm run demo`: runs the user-totals app on the embedded nats-server while a generator publishes
// purchases with duplicates and out-of-order arrivals for ~15 s, then checks every user's total
// against a brute-force sum over distinct event ids.
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { compact, progressLine } from "../../cli/mod.ts";
import { appNames, connectNats, kvSnapshotStore, produce, startEmbeddedNats, startRuntime } from "../../runtime/mod.ts";
import type { Purchase, Totals } from "./main.ts";

const HELP = `Usage: npm run demo -- [--seconds S] [--rate R] [--users U] [--workers W]

Starts weir's embedded nats-server (data in .weir/demo), runs apps/user-totals on it, publishes
purchases for S seconds (default 15) at about R events/s (default 15000) over U users (default
1000), ~10% of them duplicates and ~10% delayed (out of order), then prints the per-user totals
next to a brute-force computation.
`;

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "15" },
    rate: { type: "string", default: "15000" },
    users: { type: "string", default: "1000" },
    workers: { type: "string", default: String(cpus().length) },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}
const num = (name: keyof typeof values) => {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`demo: --${name} must be a positive number\n`);
    process.exit(2);
  }
  return n;
};
const SECONDS = num("seconds");
const RATE = num("rate");
const USERS = Math.floor(num("users"));
const WORKERS = Math.floor(num("workers"));
const APP = new URL("./main.ts", import.meta.url).pathname;
const names = appNames("user-totals");
const tty = Boolean(process.stdout.isTTY);
const say = (s: string) => process.stdout.write(`${s}\n`);

say("weir demo: per-user running totals of purchases, deduplicated by event_id\n");
const nats = await startEmbeddedNats(".weir/demo");
say(`nats-server  ${nats.reused ? "reused" : "started"} at ${nats.url} (data in .weir/demo)`);
const nc = await connectNats(nats.url, "weir-demo");
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
// Each demo starts from nothing: drop what an earlier demo left in the app's streams and bucket.
for (const s of [names.input, names.output, names.dlq, `KV_${names.bucket}`]) await jsm.streams.delete(s).catch(() => {});

const rt = await startRuntime({ app: APP, nats: nats.url, workers: WORKERS, logLevel: "warn" });
say(`weir         app user-totals, ${rt.metrics().partitions} partitions on ${WORKERS} workers, input stream ${rt.inputStream}`);
say(`generator    ${SECONDS} s at ~${compact(RATE)} events/s over ${USERS} users, ~10% duplicates, ~10% out of order\n`);

// Brute force: amounts in integer cents per distinct event id.
const expectedCents = new Map<string, number>();
const expectedCount = new Map<string, number>();
let seed = 12345;
const random = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};
const recent: Purchase[] = [];
const delayed: Array<{ due: number; e: Purchase }> = [];
let published = 0;
let duplicates = 0;
let late = 0;
let nextId = 0;
const t0 = Date.now();
const line = progressLine();
let lastPrint = 0;

const send = (e: Purchase) => produce(js, `purchases.${e.user_id}`, e);
const fresh = (): Purchase => {
  const user = `u${Math.floor(random() * USERS)}`;
  const cents = 1 + Math.floor(random() * 10_000);
  const e = { event_id: `ev-${nextId++}`, user_id: user, amount: cents / 100, event_time: Date.now() };
  expectedCents.set(user, (expectedCents.get(user) ?? 0) + cents);
  expectedCount.set(user, (expectedCount.get(user) ?? 0) + 1);
  return e;
};

while (Date.now() - t0 < SECONDS * 1000) {
  const tickStart = Date.now();
  const batch: Promise<unknown>[] = [];
  const perTick = Math.max(1, Math.round(RATE / 20));
  for (let i = 0; i < perTick; i++) {
    const r = random();
    let e: Purchase;
    if (r < 0.1 && recent.length > 0) {
      // A producer retry: the same event again.
      e = recent[Math.floor(random() * recent.length)]!;
      duplicates++;
    } else if (r < 0.2) {
      // Held back and published later, behind newer events.
      const held = fresh();
      held.event_time -= 5_000;
      delayed.push({ due: published + 200 + Math.floor(random() * 2000), e: held });
      late++;
      continue;
    } else {
      e = fresh();
    }
    batch.push(send(e));
    published++;
    recent.push(e);
    if (recent.length > 1000) recent.shift();
    while (delayed.length > 0 && delayed[0]!.due <= published) {
      const d = delayed.shift()!;
      batch.push(send(d.e));
      published++;
      recent.push(d.e);
    }
  }
  await Promise.all(batch);
  const now = Date.now();
  if (now - lastPrint >= 1000) {
    lastPrint = now;
    const elapsed = Math.round((now - t0) / 1000);
    const text = `[${String(elapsed).padStart(3)}s] published ${compact(published)} (dup ${compact(duplicates)}, late ${compact(late)}) | ${line(rt.metrics())}`;
    process.stdout.write(tty ? `\r\x1b[2K${text}` : `${text}\n`);
  }
  const wait = 50 - (Date.now() - tickStart);
  if (wait > 0) await Bun.sleep(wait);
}
for (const d of delayed.splice(0)) {
  await send(d.e);
  published++;
}
process.stdout.write(tty ? "\n" : "");
say("\ngenerator done; waiting for weir to drain the stream...");
await rt.drained();
const m = rt.metrics();
await rt.stop();

const store = await kvSnapshotStore(nc, { bucket: names.bucket });
const states = new Map<string, Totals>();
for await (const { key, record } of store.listActors()) states.set(key, record.state as Totals);
const outputs = (await jsm.streams.info(names.output)).state.messages;

let matched = 0;
let dropped = 0;
const mismatches: string[] = [];
for (const [user, cents] of expectedCents) {
  const s = states.get(user);
  dropped += s?.duplicates ?? 0;
  if (s && Math.round(s.total * 100) === cents && s.count === expectedCount.get(user)) matched++;
  else mismatches.push(user);
}
const distinct = nextId;
say("\nResults");
say(`  events published          ${published.toLocaleString()} (${distinct.toLocaleString()} distinct event ids, ${late.toLocaleString()} delayed)`);
say(`  processed by weir         ${m.processed.toLocaleString()} (dead-lettered ${m.dlq})`);
say(`  duplicates dropped        ${dropped.toLocaleString()} (published ${duplicates.toLocaleString()})`);
say(`  outputs on totals.>       ${outputs.toLocaleString()} (one per distinct event)`);
say(`  users matching brute force ${matched} / ${expectedCents.size}`);
say("\n  user        weir total     expected    events");
for (const user of [...expectedCents.keys()].sort().slice(0, 8)) {
  const s = states.get(user);
  const exp = (expectedCents.get(user)! / 100).toFixed(2);
  say(`  ${user.padEnd(10)} ${(s ? s.total.toFixed(2) : "-").padStart(11)} ${exp.padStart(12)} ${String(s?.count ?? 0).padStart(9)}`);
}
await nc.close();
await nats.stop();
const ok = mismatches.length === 0 && outputs === distinct && m.dlq === 0;
say(
  ok
    ? "\nOK: every user's total equals the brute-force sum over distinct event ids, and each counted event produced exactly one output."
    : `\nMISMATCH: ${mismatches.length} users differ (${mismatches.slice(0, 5).join(", ")}), outputs ${outputs} vs ${distinct} distinct events.`,
);
process.exit(ok ? 0 : 1);
