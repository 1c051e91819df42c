import { hostname } from "node:os";
import type { NatsConnection } from "@nats-io/nats-core";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import { ConfigError, DEFAULTS, describeError, systemScheduler, WeirError, type Scheduler } from "../contract/mod.ts";
import { casConflict } from "../nats/mod.ts";

/** KV bucket of the instance locks: one key per app (or replay namespace) state. */
export const LOCK_BUCKET = "weir_instances";

/** Written to read the server's clock. */
const CLOCK_KEY = "clock";

/** The instance lock was taken over or could not be renewed in time: this instance must stop. */
export class LockLostError extends WeirError {
  readonly retryable = false;
}

/** The state is in use by another running instance. */
export class LockHeldError extends ConfigError {}

interface LockRecord {
  holder: string;
  ttlMs: number;
  since: number;
}

export interface InstanceLock {
  readonly holder: string;
  /** Rejects when the lock is lost (taken over by another instance, or not renewed within its TTL). */
  readonly lost: Promise<never>;
  /** Stops renewing and deletes the lock (if it is still this instance's). */
  release(): Promise<void>;
}

export interface LockOptions {
  /** What the lock guards, e.g. the app's state bucket (a KV key). */
  name: string;
  /** Says what runs, for the refusal message: "app ledger". */
  what: string;
  /** A lock not renewed for this long (ms) belongs to a dead instance. Default `DEFAULTS.lockTtlMs`. */
  ttlMs?: number;
  scheduler?: Scheduler;
  /** Called when a dead instance's lock was taken over. */
  onTakeOver?: (previous: string) => void;
}


const encoder = new TextEncoder();
const decoder = new TextDecoder();
const decode = (e: KvEntry): LockRecord => JSON.parse(decoder.decode(e.value)) as LockRecord;

/**
 * Takes the lock that lets one instance run an app's state at a time: a KV entry created
 * atomically and renewed (compare-and-set on its revision) every third of its TTL. A start that
 * finds the lock held watches it: a renewal means its holder runs (refused, within a third of the
 * TTL); no renewal for a whole TTL means its holder died (e.g. kill -9), and the lock is taken over
 * by compare-and-set, so of two waiting starts only one wins. Times are the server's (entry
 * timestamps), so hosts need not agree on the time.
 *
 * @example
 * const lock = await acquireInstanceLock(nc, { name: "weir_ledger_state", what: "app ledger" });
 * lock.lost.catch(stop); ... await lock.release();
 */
export async function acquireInstanceLock(nc: NatsConnection, opts: LockOptions): Promise<InstanceLock> {
  const ttlMs = opts.ttlMs ?? DEFAULTS.lockTtlMs;
  const scheduler = opts.scheduler ?? systemScheduler;
  const kv: KV = await new Kvm(nc).create(LOCK_BUCKET, { history: 1 });
  const holder = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  const mine = (since: number) => encoder.encode(JSON.stringify({ holder, ttlMs, since } satisfies LockRecord));
  const since = scheduler.now();

  let revision = await take(kv, opts, mine(since), scheduler);
  let renewedAt = scheduler.now();
  let released = false;
  let reject!: (err: Error) => void;
  const lost = new Promise<never>((_, rej) => (reject = rej));
  lost.catch(() => {});
  // One renewal at a time: two in flight would race each other's compare-and-set.
  let renewing: Promise<void> = Promise.resolve();
  let cancel = () => {};
  const renew = async () => {
    try {
      revision = await kv.update(opts.name, mine(since), revision);
      renewedAt = scheduler.now();
    } catch (err) {
      if (released) return;
      const taken = casConflict(err);
      // A broker that is briefly away is tried again, while the TTL lasts.
      if (taken || scheduler.now() - renewedAt > ttlMs) {
        reject(
          new LockLostError(
            taken
              ? `the instance lock of ${opts.what} was taken over by another instance; stopping`
              : `the instance lock of ${opts.what} could not be renewed for ${ttlMs} ms (${describeError(err)}); stopping`,
          ),
        );
        return;
      }
    }
    schedule();
  };
  const schedule = () => {
    if (!released) cancel = scheduler.schedule(() => (renewing = renew()), Math.max(50, Math.floor(ttlMs / 3)));
  };
  schedule();
  return {
    holder,
    lost,
    async release() {
      released = true;
      cancel();
      await renewing;
      await kv.delete(opts.name, { previousSeq: revision }).catch(() => {});
    },
  };
}

/**
 * Whether an instance holds the lock now (renewed within its TTL, on the server's clock), and who:
 * for a start that must not run beside it, but does not take the lock itself.
 */
export async function lockHolder(nc: NatsConnection, name: string): Promise<string | undefined> {
  const kv: KV = await new Kvm(nc).create(LOCK_BUCKET, { history: 1 });
  const seen = await kv.get(name);
  if (!seen || seen.operation !== "PUT") return undefined;
  const held = decode(seen);
  return (await serverNow(kv, Date.now())) - seen.created.getTime() <= held.ttlMs ? held.holder : undefined;
}

/** The server's clock: the time of a probe entry written now (`fallback` if it cannot be read back). */
async function serverNow(kv: KV, fallback: number): Promise<number> {
  await kv.put(CLOCK_KEY, new Uint8Array(0));
  return (await kv.get(CLOCK_KEY))?.created.getTime() ?? fallback;
}

/** Creates the lock entry, or waits out a dead holder's TTL and takes it over; refuses a live holder. */
async function take(kv: KV, opts: LockOptions, value: Uint8Array, scheduler: Scheduler): Promise<number> {
  for (;;) {
    try {
      return await kv.create(opts.name, value);
    } catch (err) {
      if (!casConflict(err)) throw err;
    }
    const seen = await kv.get(opts.name);
    if (!seen || seen.operation !== "PUT") continue;
    const held = decode(seen);
    // Watch for a renewal until the holder's TTL has passed since its last one, measured on the
    // server's clock (the entry's time against a probe written now), so local clocks do not matter.
    const deadline = scheduler.now() + Math.max(0, seen.created.getTime() + held.ttlMs - (await serverNow(kv, scheduler.now())));
    let current: KvEntry | null = seen;
    while (scheduler.now() < deadline) {
      await scheduler.sleep(Math.min(250, held.ttlMs / 6));
      current = await kv.get(opts.name);
      if (!current || current.operation !== "PUT" || current.revision !== seen.revision) break;
    }
    if (current && current.operation === "PUT" && current.revision !== seen.revision) {
      const h = decode(current);
      throw new LockHeldError(
        `${opts.what} is already running (instance ${h.holder}, since ${new Date(h.since).toISOString()}); stop it first: ` +
          `one instance at a time runs it (a killed instance's lock is taken over ${Math.round(h.ttlMs / 1000)} s after its last renewal)`,
      );
    }
    if (!current || current.operation !== "PUT") continue;
    try {
      const rev = await kv.update(opts.name, value, seen.revision);
      opts.onTakeOver?.(held.holder);
      return rev;
    } catch (err) {
      // Another start took it over first; look again.
      if (!casConflict(err)) throw err;
    }
  }
}
