import { subjectToken } from "../contract/mod.ts";

/**
 * KV keys keep the view's keys readable and prefix-ordered: a view key is one subject token (see
 * `subjectToken`), so a key prefix maps to a KV key prefix.
 */
export const viewKey = subjectToken;

/** Materialized views: the latest value per (view, key), and per partition how far the writes reach. */
export interface ViewStore {
  /** Of these partitions, the stream sequence up to which view writes are stored (absent: none yet). */
  offsets(partitions: readonly number[]): Promise<Map<number, number>>;
  write(entries: readonly [string, string, unknown][], offsets: readonly [number, number][]): Promise<void>;
  get(view: string, key: string): Promise<unknown | undefined>;
  /** The keys of a view that start with `prefix`, in the order of their {@link viewKey}s. */
  list(view: string, prefix?: string): Promise<{ key: string; value: unknown }[]>;
}
