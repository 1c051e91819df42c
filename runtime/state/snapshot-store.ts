import { FencedError, SnapshotError } from "../contract/mod.ts";

/**
 * Version of the snapshot records written by this runtime. Readers refuse versions they do not know.
 * v2: partition positions are sequences of the partition's own input stream (v1: of the app's one input stream).
 */
export const SNAPSHOT_VERSION = 2;

/** Per-partition progress: every event of the partition up to `lastSeq` is reflected in stored state. */
export interface PartitionMeta {
  v: number;
  lastSeq: number;
  savedAt: number;
  /** Watermark tracker state as of `lastSeq` (restored when the run resumes from this partition). */
  marks?: number[];
  /** Actors of this partition with pending timers, `[actor, key]`: loaded at start so their timers fire. */
  timers?: [string, string][];
  /**
   * Fencing epoch of the owner that wrote it (its partition lease's): a write with a lower epoch
   * is refused. Absent when the writer holds no lease (a replay, alone under its instance lock).
   */
  epoch?: number;
}

/** One actor's stored state with the sequence of the last event applied to it. */
export interface ActorRecord {
  v: number;
  seq: number;
  state: unknown;
  /** Pending timers `[time, kind ("e" | "p"), tag]`, in firing order. */
  timers?: [number, "e" | "p", string][];
}

export interface AppConfigRecord {
  v: number;
  partitions: number;
  /** In a replay namespace: the stream sequences it replays (inclusive). */
  replay?: { from: number; to: number };
}

export interface ActorWrite {
  actor: string;
  key: string;
  record: ActorRecord;
}

/** Where actor state and partition progress live between runs. */
export interface SnapshotStore {
  loadConfig(): Promise<AppConfigRecord | null>;
  saveConfig(config: AppConfigRecord): Promise<void>;
  loadMeta(partition: number): Promise<PartitionMeta | null>;
  /** A named stream position (the repartition step's, in the stream it reads): 0 until saved. */
  loadPosition(name: string): Promise<number>;
  savePosition(name: string, seq: number): Promise<void>;
  /**
   * Writes a partition's meta. With `meta.epoch` set the write is fenced: refused with
   * {@link FencedError} when the stored meta holds a higher epoch (another owner has taken the
   * partition over), and atomic with that check (nothing can land between the check and the write).
   */
  saveMeta(partition: number, meta: PartitionMeta): Promise<void>;
  loadActor(actor: string, key: string): Promise<ActorRecord | null>;
  /** Writes all records; resolves when every one is durable, with the bytes each took (in order). */
  saveActors(writes: readonly ActorWrite[]): Promise<number[]>;
  /** Deletes actor records (cleared state); resolves when durable. */
  deleteActors(ids: readonly { actor: string; key: string }[]): Promise<void>;
  /** Every stored actor record (for tools and tests; reads the whole bucket). */
  listActors(): AsyncIterable<{ actor: string; key: string; record: ActorRecord }>;
}

/** A record as stored, refused when this runtime cannot read its format version. */
export function checkVersion<T extends { v: number }>(what: string, rec: T): T {
  if (rec.v !== SNAPSHOT_VERSION) {
    throw new SnapshotError(`${what} has snapshot format v${rec.v}; this weir reads v${SNAPSHOT_VERSION}`);
  }
  return rec;
}

/** The refusal of a fenced meta write: `stored` is the epoch found, newer than the writer's. */
export function fenced(partition: number, mine: number, stored: number): FencedError {
  return new FencedError(`partition ${partition} belongs to a newer owner (epoch ${stored}; this instance's lease had epoch ${mine}): its writes are refused`, [partition]);
}
