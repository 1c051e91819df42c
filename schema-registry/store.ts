import type { NatsConnection } from "@nats-io/nats-core";
import { JetStreamApiCodes } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { errors } from "./errors.ts";

/** A stored value with the revision a compare-and-set must name. */
export interface Versioned<T> {
  value: T;
  revision: number;
}

/**
 * The registry's storage seam: a key-value map with compare-and-set, so several registry processes
 * on one store agree on id and version allocation without a leader.
 */
export interface RegistryStore {
  get<T>(key: string): Promise<Versioned<T> | undefined>;
  /** Writes only if the key holds nothing; false when another writer got there first. */
  create(key: string, value: unknown): Promise<boolean>;
  /** Writes only if the key is still at `revision`; false when it moved on. */
  update(key: string, value: unknown, revision: number): Promise<boolean>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Keys that start with `prefix` + "." (a KV key level). */
  keys(prefix: string): Promise<string[]>;
  close?(): Promise<void>;
}

/** The bucket every registry process on one NATS shares. */
export const DEFAULT_REGISTRY_BUCKET = "weir_registry";

function isConflict(err: unknown): boolean {
  // By code, not class: @nats-io/kv may carry its own copy of the jetstream package.
  const code = (err as { code?: unknown } | null)?.code;
  return code === JetStreamApiCodes.StreamWrongLastSequence || code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
}

async function storeOp<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw errors.store(`${what}: ${(err as Error).message}`, err);
  }
}

/**
 * Registry storage on a JetStream KV bucket (created when missing, file storage, one value per key).
 *
 * @example
 * const store = await kvRegistryStore(nc);
 * const registry = createRegistry({ store });
 */
export async function kvRegistryStore(nc: NatsConnection, opts: { bucket?: string } = {}): Promise<RegistryStore> {
  const bucket = opts.bucket ?? DEFAULT_REGISTRY_BUCKET;
  const kv: KV = await storeOp(`open bucket ${bucket}`, () => new Kvm(nc).create(bucket, { history: 1 }));
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  return {
    get: (key) =>
      storeOp(`get ${key}`, async () => {
        const e = await kv.get(key);
        if (!e || e.operation !== "PUT") return undefined;
        return { value: e.json(), revision: e.revision };
      }),
    create: (key, value) =>
      storeOp(`create ${key}`, async () => {
        try {
          await kv.create(key, enc(value));
          return true;
        } catch (err) {
          if (isConflict(err)) return false;
          throw err;
        }
      }),
    update: (key, value, revision) =>
      storeOp(`update ${key}`, async () => {
        try {
          await kv.update(key, enc(value), revision);
          return true;
        } catch (err) {
          if (isConflict(err)) return false;
          throw err;
        }
      }),
    put: (key, value) => storeOp(`put ${key}`, async () => void (await kv.put(key, enc(value)))),
    delete: (key) => storeOp(`delete ${key}`, async () => void (await kv.purge(key))),
    keys: (prefix) =>
      storeOp(`list ${prefix}`, async () => {
        const out: string[] = [];
        for await (const k of await kv.keys(`${prefix}.>`)) out.push(k);
        return out;
      }),
  };
}
