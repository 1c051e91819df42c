import { expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appNames } from "../nats/mod.ts";
import { openSink } from "../sinks/mod.ts";
import { kvSnapshotStore, kvViews } from "../state/mod.ts";
import { client, publishAll, rng, startNats, storedProgress, storedStates, twoInstances, waitFor } from "../testing/mod.ts";
import fenceApp from "../testdata/fence-app.ts";

const FENCE_APP = new URL("../testdata/fence-app.ts", import.meta.url).pathname;
const PARTITIONS = 8;
const names = appNames("fence");

/** Events over 300 keys, and per key the total and count they add up to. */
function workload(total: number) {
  const random = rng(11);
  const events = Array.from({ length: total }, (_, id) => {
    const k = `k${Math.floor(random() * 300)}`;
    return { subject: `fz.in.${k}`, value: { id, k, n: 1 + Math.floor(random() * 9) } };
  });
  const upTo = (n: number) => {
    const out = new Map<string, { total: number; count: number }>();
    for (const { value } of events.slice(0, n)) {
      const e = out.get(value.k) ?? { total: 0, count: 0 };
      out.set(value.k, { total: e.total + value.n, count: e.count + 1 });
    }
    return out;
  };
  return { events, upTo };
}

test("a zombie owner (SIGSTOPped past its leases) lands nothing when it wakes: states, rows and views stay the new owner's; it notices and rejoins", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const sinkUrl = `sqlite:${join(mkdtempSync(join(tmpdir(), "weir-fence-")), "out.db")}`;
  const args = [FENCE_APP, "--nats", nats.url, "--workers", "1", "--no-progress", "--no-http", "--no-registry", "--lock-ttl", "1500", "--sink", sinkUrl];
  const store = await kvSnapshotStore(c.nc, { bucket: names.bucket });
  const progress = () => storedProgress(c.nc, "fence", PARTITIONS);
  /** Everything the app has stored: actor states, rows and their offsets, view values. */
  const stored = async () => {
    const states = [...(await storedStates(c.nc, names.bucket))].map(([k, r]) => [k, r.seq, r.state] as const).sort(([a], [b]) => (a < b ? -1 : 1));
    const sink = openSink(sinkUrl, { scope: names.sinkScope });
    await sink.prepare(fenceApp.tables!);
    const rows = await sink.rows("totals");
    const offsets = [...(await sink.offsets())].sort(([a], [b]) => a - b);
    await sink.close();
    const views = await (await kvViews(c.nc, names.views)).list("totals");
    return { states, rows, offsets, views };
  };
  const expectTotals = async (want: Map<string, { total: number; count: number }>) => {
    const { states, rows, views } = await stored();
    const byKey = <T>(list: [string, T][]) => new Map(list.sort(([a], [b]) => (a < b ? -1 : 1)));
    const sorted = byKey([...want]);
    expect(byKey(states.map(([k, , s]) => [k.slice("acc/".length), s]))).toEqual(sorted);
    expect(byKey(rows.map((r) => [r.k as string, { total: r.total, count: r.count }]))).toEqual(sorted);
    expect(byKey(views.map((v) => [v.key, v.value]))).toEqual(sorted);
  };
  const { events, upTo } = workload(30_000);

  const [zombie, owner] = await twoInstances(args, PARTITIONS);
  const half = `${PARTITIONS / 2} of ${PARTITIONS} partitions`;
  const first = await publishAll(c.js, events.slice(0, 10_000));
  await waitFor(async () => (await progress()) >= first, 30_000, "the first events to be processed and stored");

  // More events; the zombie is stopped in the middle of them, holding processed work it has not
  // stored (it snapshots every 3 s), and stays stopped well past its leases.
  const second = await publishAll(c.js, events.slice(10_000, 20_000));
  await Bun.sleep(300);
  zombie.proc.kill("SIGSTOP");
  await waitFor(() => owner.out.log.includes(`${PARTITIONS} partitions on`), 20_000, "the other instance to take every partition over");
  await waitFor(async () => (await progress()) >= second, 30_000, "the new owner to process and store everything");
  const before = await stored();
  await expectTotals(upTo(20_000));
  // The sink holds every partition's rows as far as its stored state reaches.
  const metas = await Promise.all(before.offsets.map(([p]) => store.loadMeta(p)));
  expect(before.offsets).toHaveLength(PARTITIONS);
  expect(before.offsets.every(([, seq], i) => seq >= (metas[i]?.lastSeq ?? Number.POSITIVE_INFINITY))).toBe(true);

  // The zombie wakes: whatever it still writes for the partitions it lost is refused.
  zombie.proc.kill("SIGCONT");
  await waitFor(() => zombie.out.log.includes("lost its lease"), 20_000, "the zombie to notice it lost its leases");
  const count = (log: string, s: string) => log.split(s).length - 1;
  await waitFor(() => count(zombie.out.log, half) >= 2 && count(owner.out.log, half) >= 2, 30_000, "the zombie to rejoin and get half back");
  process.stderr.write(
    `  the zombie woke: ${count(zombie.out.log, "writes wait for a renewal")} writes held back (leases unconfirmed), ` +
      `${count(zombie.out.log, "write refused")} refused by epoch, ${count(zombie.out.log, "lost its lease")} leases found lost\n`,
  );
  expect(await stored()).toEqual(before);

  // Both go on as before.
  const third = await publishAll(c.js, events.slice(20_000));
  await waitFor(async () => (await progress()) >= third, 30_000, "the rest to be processed");
  for (const p of [zombie, owner]) p.proc.kill("SIGTERM");
  expect(await zombie.proc.exited).toBe(0);
  expect(await owner.proc.exited).toBe(0);
  await expectTotals(upTo(30_000));
  // Every partition's meta carries the epoch of its last owner's lease: the newest.
  for (let p = 0; p < PARTITIONS; p++) expect((await store.loadMeta(p))?.epoch ?? 0).toBeGreaterThan(0);
}, 180_000);
