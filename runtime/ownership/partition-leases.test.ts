import { expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import { connectNats } from "../nats/mod.ts";
import { Kvm } from "@nats-io/kv";
import { startCluster, startNats, waitFor } from "../testing/mod.ts";
import { joinOwnership, type OwnershipView } from "./partition-leases.ts";

const MEMBER = new URL("../testdata/ownership-member.ts", import.meta.url).pathname;
const TTL = 1500;
const PARTITIONS = 12;

interface Line {
  e: string;
  p?: number;
  epoch?: number;
  t: number;
}

/** A member process and what it has said so far. */
function member(url: string, bucket: string, capacity = 2) {
  const proc: Subprocess<"ignore", "pipe", "inherit"> = spawn([process.execPath, MEMBER, url, bucket, String(PARTITIONS), String(capacity), String(TTL), "3"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "inherit",
  });
  const lines: Line[] = [];
  (async () => {
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += new TextDecoder().decode(chunk);
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    }
  })();
  /** Partitions it believes it owns, from its own events. */
  const owned = () => {
    const s = new Set<number>();
    for (const l of lines) {
      if (l.e === "acquired") s.add(l.p!);
      else if (l.e === "released" || l.e === "lost") s.delete(l.p!);
    }
    return s;
  };
  return { proc, lines, owned };
}

const ownersOf = (v: OwnershipView) => {
  const count = new Map<string, number>();
  for (const l of v.leases.values()) count.set(l.owner, (count.get(l.owner) ?? 0) + 1);
  return count;
};

test("instances share partitions by capacity, take over a killed one's after its lease expires, hand some to a newcomer, through a NATS node restart", async () => {
  await using cluster = await startCluster();
  const nc = await connectNats(cluster.url, "weir-test");
  const bucket = "weir_share_owners";
  const a = member(cluster.url, bucket);
  const b = member(cluster.url, bucket);
  const c = member(cluster.url, bucket);
  const all = [a, b, c];
  try {
    const look = await joinOwnership(nc, { bucket, partitions: PARTITIONS, capacity: 0, ttlMs: TTL, replicas: 3, events: { acquired() {}, release: async () => {}, lost() {} } });
    const spread = async (n: number[]) => {
      // A read may time out while a node restarts (the bucket's leader moving): not yet, then.
      const v = await look.view().catch((err: unknown) => {
        if (err instanceof Error && err.name === "TimeoutError") return undefined;
        throw err;
      });
      if (!v) return false;
      const counts = [...ownersOf(v).values()].sort();
      return v.leases.size === PARTITIONS && JSON.stringify(counts) === JSON.stringify(n);
    };
    await waitFor(() => spread([4, 4, 4]), 20_000, "4 partitions each");
    // No partition is believed owned by two members.
    const disjoint = (ms: ReturnType<typeof member>[]) => {
      const seen = new Set<number>();
      for (const x of ms) for (const p of x.owned()) {
        expect(seen.has(p)).toBe(false);
        seen.add(p);
      }
      return seen.size;
    };
    /** Every partition believed owned by exactly one member, once the members' reports (read from their stdout, behind the bucket) have come in. */
    const eachOnce = (ms: ReturnType<typeof member>[]) => waitFor(() => disjoint(ms) === PARTITIONS, 5_000, "every partition reported by one member");
    await eachOnce(all);
    const epochsBefore = new Map([...(await look.view()).leases].map(([p, l]) => [p, l.epoch]));

    // SIGKILL: its leases expire on the server, the others take its partitions.
    const killedAt = Date.now();
    const gone = a.owned();
    a.proc.kill("SIGKILL");
    await waitFor(() => spread([6, 6]), 20_000, "6 partitions each after the kill");
    const taken = [...b.lines, ...c.lines].filter((l) => l.e === "acquired" && gone.has(l.p!) && l.t > killedAt);
    const failover = Math.max(...taken.map((l) => l.t)) - killedAt;
    process.stderr.write(`  failover after SIGKILL (lease TTL ${TTL} ms): last of ${gone.size} partitions taken ${failover} ms after the kill\n`);
    for (const l of taken) expect(l.epoch!).toBeGreaterThan(epochsBefore.get(l.p!)!);
    await eachOnce([b, c]);

    // A NATS node dies and comes back: the R3 owner bucket keeps every lease.
    await cluster.nodes[2]!.kill();
    await Bun.sleep(2 * TTL);
    await cluster.nodes[2]!.restart();
    await cluster.ready();
    await waitFor(() => spread([6, 6]), 20_000, "the spread kept through a node restart");

    // A newcomer: the two give up partitions to it (that they give them to it only, never to each
    // other, is the assignment's property: see assignment.test.ts).
    const d = member(cluster.url, bucket);
    all.push(d);
    await waitFor(async () => (await spread([4, 4, 4])) && d.owned().size === 4, 20_000, "4 each with the newcomer");
    await eachOnce([b, c, d]);
    await look.stop();
  } finally {
    for (const x of all) x.proc.kill("SIGKILL");
    await nc.close();
  }
}, 120_000);

test("a paused owner (SIGSTOP past its lease) loses its partitions, learns it on waking, and rejoins", async () => {
  await using cluster = await startCluster();
  const bucket = "weir_zombie_owners";
  const a = member(cluster.url, bucket);
  const b = member(cluster.url, bucket);
  const nc = await connectNats(cluster.url, "weir-test");
  try {
    const look = await joinOwnership(nc, { bucket, partitions: PARTITIONS, capacity: 0, ttlMs: TTL, replicas: 3, events: { acquired() {}, release: async () => {}, lost() {} } });
    await waitFor(async () => (await look.view()).leases.size === PARTITIONS && a.owned().size === 6 && b.owned().size === 6, 20_000, "6 each");
    const mine = a.owned();
    a.proc.kill("SIGSTOP");
    await waitFor(() => b.owned().size === PARTITIONS, 20_000, "b owns everything while a is paused");
    const stoppedFor = Date.now();
    a.proc.kill("SIGCONT");
    // Waking, a finds its leases gone at its first renewal: it stops them at once.
    await waitFor(() => a.lines.filter((l) => l.e === "lost" && l.t >= stoppedFor).length === mine.size, 10_000, "a notices every lost lease");
    expect(a.owned().size).toBe(0);
    // And it is still a member: the two share again.
    await waitFor(() => a.owned().size === 6 && b.owned().size === 6, 20_000, "6 each again");
    const v = await look.view();
    for (const p of a.owned()) expect(v.leases.get(p)!.owner).not.toBe(v.leases.get([...b.owned()][0]!)!.owner);
    await look.stop();
  } finally {
    a.proc.kill("SIGKILL");
    b.proc.kill("SIGKILL");
    await nc.close();
  }
}, 120_000);

test("a run with another lease TTL than the one the owner bucket was made with resets the bucket's TTL, shorter or longer", async () => {
  await using nats = await startNats();
  const nc = await connectNats(nats.url, "weir-test");
  const events = { acquired() {}, release: async () => {}, lost() {} };
  const bucket = "weir_ttl_owners";
  try {
    for (const ttlMs of [10_000, 1_500, 30_000]) {
      const own = await joinOwnership(nc, { bucket, partitions: 4, capacity: 1, ttlMs, events });
      expect(own.owned().size).toBe(4);
      await own.stop();
      expect((await (await new Kvm(nc).open(bucket)).status()).ttl).toBe(ttlMs);
    }
  } finally {
    await nc.close();
  }
});
