const encoder = new TextEncoder();

/**
 * The partition of a key: FNV-1a (32 bit) over the key's UTF-8 bytes, modulo `partitions`.
 * Producers, tools and the runtime all use this one function, so they agree on where a key lives.
 * It must never change: snapshots are stored per partition.
 *
 * @example
 * partitionOf("user-42", 32) // => a stable number in [0, 32)
 */
export function partitionOf(key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  }
  let h = 0x811c9dc5;
  // ASCII fast path: no allocation for the common case.
  let ascii = true;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c > 0x7f) {
      ascii = false;
      break;
    }
    h ^= c;
    h = Math.imul(h, 0x01000193);
  }
  if (!ascii) {
    h = 0x811c9dc5;
    for (const b of encoder.encode(key)) {
      h ^= b;
      h = Math.imul(h, 0x01000193);
    }
  }
  return (h >>> 0) % partitions;
}
