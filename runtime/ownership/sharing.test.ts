import { expect, test } from "bun:test";
import { appNames } from "../nats/mod.ts";
import { client, orderWorkload, publishAll, spawnWeir, startNats, storedProgress, storedStates, twoInstances, waitFor, weirCli } from "../testing/mod.ts";
import type { AppStatus } from "../ops/mod.ts";

const ORDER_APP = new URL("../testdata/order-app.ts", import.meta.url).pathname;
const PARTITIONS = 16;

test("two weir run of one app share its partitions: each owns half, a kill -9 or a clean stop hands its half to the other without restarting its workers, the state is exact", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const args = [ORDER_APP, "--nats", nats.url, "--workers", "1", "--no-progress", "--no-http", "--lock-ttl", "1500"];
  const { events, expected } = orderWorkload(7, 30_000, 500, 9);
  const progress = () => storedProgress(c.nc, "order", PARTITIONS);

  const [first, second] = await twoInstances(args, PARTITIONS);
  const half = `${PARTITIONS / 2} of ${PARTITIONS} partitions`;

  // weir status: both instances, each owning half, every partition leased with an epoch.
  const status = await weirCli("status", "order", "--nats", nats.url, "--json");
  expect(status.code).toBe(0);
  const st = JSON.parse(status.out) as AppStatus;
  expect(st.members.length).toBe(2);
  expect(st.perPartition.length).toBe(PARTITIONS);
  for (const m of st.members) expect(st.perPartition.filter((p) => p.owner === m.id).length).toBe(PARTITIONS / 2);
  expect(st.perPartition.every((p) => p.epoch !== undefined && p.epoch > 0 && p.behind !== undefined)).toBe(true);
  const text = await weirCli("status", ORDER_APP, "--nats", nats.url);
  expect(text.out).toContain(`app order: ${PARTITIONS} partitions, 2 instances running`);
  expect(text.out).toContain(`owns ${PARTITIONS / 2}`);
  const unknown = await weirCli("status", "nosuchapp", "--nats", nats.url);
  expect(unknown.code).toBe(1);
  expect(unknown.err).toContain("app nosuchapp has no state on this NATS");

  // A replay into live does not run beside the live app.
  const replay = await weirCli("replay", ORDER_APP, "--nats", nats.url, "--from", "1", "--into", "live", "--no-registry");
  expect(replay.code).toBe(1);
  expect(replay.err).toContain("app order is already running (");

  const last = await publishAll(c.js, events.slice(0, 15_000));
  await waitFor(async () => (await progress()) >= last, 30_000, "both instances to process the first half");
  // kill -9: the survivor takes the killed instance's partitions once their leases expire.
  const killedAt = performance.now();
  first.proc.kill("SIGKILL");
  await waitFor(() => second.out.log.includes(`${PARTITIONS} partitions on`), 20_000, "the survivor to own every partition");
  process.stderr.write(`  failover after kill -9 (lease TTL 1500 ms): ${Math.round(performance.now() - killedAt)} ms to the survivor reading every partition\n`);
  // Its workers took the partitions on as they ran: no restart.
  expect(second.out.log).toContain(`${PARTITIONS} partitions on 1 workers, without a restart; took on`);
  const third = spawnWeir(args);
  await third.started;
  await waitFor(() => third.out.log.includes(half), 20_000, "the newcomer to get half back");
  await waitFor(() => second.out.log.includes(`${half} (`) && second.out.log.includes("without a restart; handed over"), 20_000, "the survivor to hand half over");
  const end = await publishAll(c.js, events.slice(15_000));
  await waitFor(async () => (await progress()) >= end, 30_000, "both to process the rest");
  // A clean stop hands its partitions back at once (no lease to expire).
  third.proc.kill("SIGTERM");
  expect(await third.proc.exited).toBe(0);
  await waitFor(() => second.out.log.split(`${PARTITIONS} partitions on`).length > 2, 20_000, "the remaining instance to own every partition again");
  second.proc.kill("SIGTERM");
  expect(await second.proc.exited).toBe(0);

  // Nobody runs it now: no instances, no owners, and how far each partition's state reaches.
  const after = JSON.parse((await weirCli("status", "order", "--nats", nats.url, "--json")).out) as AppStatus;
  expect(after.members).toEqual([]);
  expect(after.repartitioned).toBeGreaterThanOrEqual(end);
  expect(after.perPartition.every((p) => p.owner === undefined && p.storedSeq > 0 && p.behind === 0)).toBe(true);

  const states = await storedStates(c.nc, appNames("order").bucket);
  expect(states.size).toBe(expected.size);
  for (const [k, e] of expected) {
    const s = states.get(`acc/${k}`)?.state as { sum: number; count: number; seqs: number[] } | undefined;
    expect({ k, sum: s?.sum, count: s?.count }).toEqual({ k, ...e });
    // Per-key order held through every hand-over.
    expect(s!.seqs).toEqual([...s!.seqs].sort((a, b) => a - b));
  }
}, 180_000);
