import type { JetStreamManager } from "@nats-io/jetstream";
/**
 * A KV compare-and-set that lost: the entry's revision is not the one expected (JetStream 10071,
 * "wrong last sequence", or 10164 for a create over a live key). Someone else wrote it first.
 */
export const casConflict = (err: unknown): boolean => [10071, 10164].includes((err as { code?: unknown }).code as number);

/** Whether a stream exists (looked up, never created). */
export const hasStream = (jsm: JetStreamManager, stream: string): Promise<boolean> =>
  jsm.streams.info(stream).then(
    () => true,
    () => false,
  );

/** Whether a KV bucket exists (looked up without creating it). */
export const hasBucket = (jsm: JetStreamManager, bucket: string): Promise<boolean> => hasStream(jsm, `KV_${bucket}`);

/**
 * The keys of a KV bucket under `filter` (a KV key pattern such as `o.>`), read from the subjects its
 * stream holds: one request (paged by the client), answered or timed out. A key listing
 * (`kv.keys()`) is a consumer instead, and one made while the bucket is being written to was seen
 * never to end. Deleted or purged keys may be among them: read each and skip what is not a value.
 *
 * @example
 * const keys = await kvKeys(jsm, "weir_ledger_views", "v.balances.>");
 */
export async function kvKeys(jsm: JetStreamManager, bucket: string, filter = ">"): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
  return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
}
