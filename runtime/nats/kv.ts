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
