import { hostname } from "node:os";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/nats-core";
import { DEFAULTS, describeError, every, retrying, systemScheduler, type Logger, type Scheduler } from "../contract/mod.ts";
import { desiredPartitions, type Member } from "./assignment.ts";
import { casConflict, kvKeys } from "../nats/mod.ts";

/**
 * What an instance does as partitions come and go. `acquired` starts processing a partition with
 * its fencing epoch; `release` is a rebalance asking for it back (finish in-flight work, snapshot,
 * then resolve: the lease is deleted after); `lost` means the lease is gone already (it expired
 * while this instance was paused or cut off, or another instance holds it): stop at once.
 */
export interface OwnershipEvents {
  acquired(partition: number, epoch: number): void | Promise<void>;
  release(partition: number): Promise<void>;
  lost(partition: number, reason: string): void;
}

export interface OwnershipOptions {
  /** The app's owner bucket (`appNames(app).owners`). */
  bucket: string;
  partitions: number;
  /** This instance's worker threads: partitions are spread in proportion. */
  capacity: number;
  /** A member or lease not renewed for this long (ms) is gone. Default `DEFAULTS.lockTtlMs`. */
  ttlMs?: number;
  /** Replicas of the owner bucket (3 on a 3-node cluster). Default 1. */
  replicas?: number;
  scheduler?: Scheduler;
  log?: Logger;
  events: OwnershipEvents;
}

/** One partition's lease as stored. */
export interface LeaseRecord {
  owner: string;
  /** The KV revision at which the lease was taken: it only grows, so a later owner has a higher one. */
  epoch: number;
}

export interface OwnershipView {
  members: (Member & { host: string; since: number })[];
  leases: Map<number, LeaseRecord>;
}

export interface Ownership {
  readonly id: string;
  /** Partitions this instance holds, with their epochs. */
  owned(): ReadonlyMap<number, number>;
  /**
   * Until when (scheduler time) the leases of `partitions` are certainly still this instance's:
   * the oldest successful renewal's sending time plus the TTL, less a margin for clocks that run
   * at slightly different rates; 0 when one of them is not held. Writers wait past it until a renewal moves it on (or the lease is lost), so a
   * process that was paused or cut off does not write on a lease that may have expired.
   */
  heldUntil(partitions: readonly number[]): number;
  /** Members and leases as the bucket holds them now. */
  view(): Promise<OwnershipView>;
  /** Runs one round of heartbeat, renewals and rebalancing now (tests; the loop runs every TTL/3). */
  tick(): Promise<void>;
  /** Releases every partition (through `events.release`), leaves the membership. */
  stop(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const json = (v: unknown) => encoder.encode(JSON.stringify(v));
const leaseKey = (p: number) => `p.${p}`;
const memberKey = (id: string) => `m.${id}`;

/**
 * Joins the instances of an app that share its partitions, on a KV bucket whose TTL is the lease
 * TTL (the server forgets what is not renewed, on its own clock): each instance heartbeats a member
 * entry, takes a partition's lease by creating its key (compare-and-set: one wins), renews its
 * leases by compare-and-set on their revision, and gives up what its sticky, capacity-weighted
 * share no longer holds. The revision of the create is the partition's fencing epoch. No
 * coordinator: every member computes the same assignment from the same view.
 *
 * @example
 * const own = await joinOwnership(nc, { bucket: appNames("ledger").owners, partitions: 32, capacity: 2, events });
 * ... await own.stop();
 */
export async function joinOwnership(nc: NatsConnection, opts: OwnershipOptions): Promise<Ownership> {
  const ttlMs = opts.ttlMs ?? DEFAULTS.lockTtlMs;
  const scheduler = opts.scheduler ?? systemScheduler;
  const kv = await retrying(() => ownerBucket(nc, opts.bucket, ttlMs, opts.replicas ?? 1), {
    scheduler,
    onRetry: (err) => opts.log?.warn(`opening the owner bucket ${opts.bucket}: ${describeError(err)}; trying again`),
  });
  const id = `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const since = scheduler.now();
  const member = json({ id, capacity: opts.capacity, host: hostname(), since });
  /** Partition → [epoch, revision of our last write, when it was renewed]. */
  const held = new Map<number, { epoch: number; rev: number; renewedAt: number }>();
  /** Partitions being handed back (still renewed until the release resolves). */
  const releasing = new Set<number>();
  /** Stopping: partitions are handed back and none are taken. */
  let leaving = false;
  let stopped = false;

  const lose = (p: number, reason: string) => {
    if (!held.delete(p)) return;
    releasing.delete(p);
    opts.log?.warn(`partition ${p}: lost its lease (${reason})`);
    opts.events.lost(p, reason);
  };

  const renew = async (p: number) => {
    const h = held.get(p)!;
    const sent = scheduler.now();
    try {
      h.rev = await kv.update(leaseKey(p), json({ owner: id, epoch: h.epoch } satisfies LeaseRecord), h.rev);
      // The server's clock for the lease starts after this was sent: from here, it lasts at least a TTL.
      h.renewedAt = sent;
    } catch (err) {
      if (casConflict(err)) lose(p, "another instance holds it, or it expired");
      else if (scheduler.now() - h.renewedAt > ttlMs) lose(p, `not renewed for ${ttlMs} ms: ${describeError(err)}`);
    }
  };

  const acquire = async (p: number) => {
    let rev: number;
    const sent = scheduler.now();
    try {
      rev = await kv.create(leaseKey(p), json({ owner: id, epoch: 0 } satisfies LeaseRecord));
    } catch (err) {
      if (!casConflict(err)) opts.log?.debug(`partition ${p}: lease not taken (${describeError(err)})`);
      return;
    }
    held.set(p, { epoch: rev, rev, renewedAt: sent });
    // The epoch goes into the record, so every reader sees it.
    await renew(p);
    if (!held.has(p)) return;
    await opts.events.acquired(p, rev);
  };

  const release = async (p: number) => {
    releasing.add(p);
    try {
      await opts.events.release(p);
    } finally {
      const h = held.get(p);
      if (h) {
        held.delete(p);
        await kv.delete(leaseKey(p), { previousSeq: h.rev }).catch(() => {});
      }
      releasing.delete(p);
    }
  };

  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const view = () => readView(kv, jsm, opts.bucket, ttlMs);

  const tick = async () => {
    if (stopped) return;
    await kv.put(memberKey(id), member).catch((err) => opts.log?.debug(`heartbeat failed: ${describeError(err)}`));
    await Promise.all([...held.keys()].map(renew));
    let v: OwnershipView;
    try {
      v = await view();
    } catch (err) {
      opts.log?.debug(`reading the owner bucket failed: ${describeError(err)}`);
      return;
    }
    if (stopped) return;
    // Only a member that sees itself takes part (its heartbeat may not have landed yet).
    if (!v.members.some((m) => m.id === id)) return;
    const owners = new Map<number, string>();
    for (const [p, l] of v.leases) owners.set(p, l.owner);
    for (const p of held.keys()) owners.set(p, id);
    const want = new Set(leaving ? [] : desiredPartitions(id, v.members, opts.partitions, owners));
    for (const p of held.keys()) if (!want.has(p) && !releasing.has(p)) void release(p);
    await Promise.all([...want].filter((p) => !held.has(p)).map(acquire));
  };

  // One round at a time, whoever asks for it (the loop, a test, stop).
  let rounds: Promise<void> = Promise.resolve();
  const serial = () => (rounds = rounds.then(tick, tick));
  const stopLoop = every(scheduler, Math.max(50, Math.floor(ttlMs / 3)), serial);
  await serial();
  return {
    id,
    owned: () => new Map([...held].map(([p, h]) => [p, h.epoch])),
    heldUntil(partitions) {
      let oldest = Number.POSITIVE_INFINITY;
      for (const p of partitions) {
        const h = held.get(p);
        // One of them is not ours (any more): never.
        if (!h) return 0;
        if (h.renewedAt < oldest) oldest = h.renewedAt;
      }
      return oldest === Number.POSITIVE_INFINITY ? 0 : oldest + ttlMs - Math.min(ttlMs / 10, 1_000);
    },
    view,
    tick: serial,
    async stop() {
      leaving = true;
      // The loop goes on renewing while the partitions are handed back.
      await Promise.all([...held.keys()].filter((p) => !releasing.has(p)).map(release));
      while (releasing.size > 0) await scheduler.sleep(20);
      stopLoop();
      stopped = true;
      await rounds;
      await kv.delete(memberKey(id)).catch(() => {});
    },
  };
}

/**
 * Members and leases as the owner bucket holds them. Heartbeats come every third of the TTL: a
 * member whose last one is older than half the TTL (on the server's clock: against the newest
 * heartbeat seen) has most likely died, and is left out at once, so the others are ready to take
 * its leases the moment they expire.
 */
async function readView(kv: KV, jsm: JetStreamManager, bucket: string, ttlMs: number): Promise<OwnershipView> {
  // Not a key listing (a consumer): one made while the bucket was being written to stalled a start 5 s.
  const keys = await kvKeys(jsm, bucket);
  const entries = await Promise.all(keys.map((k) => kv.get(k)));
  let newest = 0;
  keys.forEach((k, i) => {
    if (k.startsWith("m.") && entries[i]) newest = Math.max(newest, entries[i]!.created.getTime());
  });
  const members: OwnershipView["members"] = [];
  const leases = new Map<number, LeaseRecord>();
  entries.forEach((e, i) => {
    if (!e || e.operation !== "PUT") return;
    const v = JSON.parse(decoder.decode(e.value));
    if (!keys[i]!.startsWith("m.")) leases.set(Number(keys[i]!.slice(2)), { owner: v.owner, epoch: v.epoch || e.revision });
    else if (newest - e.created.getTime() <= ttlMs / 2) members.push(v);
  });
  return { members, leases };
}

/** Members (live ones only) and leases of an app's owner bucket now; undefined when the bucket does not exist. */
export async function ownerView(nc: NatsConnection, bucket: string): Promise<OwnershipView | undefined> {
  let kv: KV;
  let ttlMs: number;
  let jsm: JetStreamManager;
  try {
    kv = await new Kvm(nc).open(bucket);
    ttlMs = (await kv.status()).ttl;
    jsm = await jetstreamManager(nc, { checkAPI: false });
  } catch {
    return undefined;
  }
  return readView(kv, jsm, bucket, ttlMs);
}

/** The ids of an app's live instances now (none when the owner bucket does not exist). */
export async function liveMembers(nc: NatsConnection, bucket: string): Promise<string[]> {
  return ((await ownerView(nc, bucket))?.members ?? []).map((m) => m.id);
}

/**
 * The owner bucket, with the lease TTL as its max age. A bucket made with another TTL (an earlier
 * run's `--lock-ttl`) is set to this one: every instance of an app must run with the same TTL.
 */
async function ownerBucket(nc: NatsConnection, bucket: string, ttlMs: number, replicas: number): Promise<KV> {
  const kv = await new Kvm(nc).create(bucket, { history: 1, ttl: ttlMs, replicas });
  const status = await kv.status();
  if (status.ttl !== ttlMs) {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(`KV_${bucket}`);
    // The server refuses a dedup window longer than the max age: it shrinks with it (KV buckets
    // keep it at the TTL, two minutes at most).
    await jsm.streams.update(`KV_${bucket}`, { ...info.config, max_age: nanos(ttlMs), duplicate_window: nanos(Math.min(ttlMs, 120_000)) });
  }
  return kv;
}
