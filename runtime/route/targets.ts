import { MAX_KEY_BYTES, subjectMatches, type AppDefinition } from "../contract/mod.ts";
import { eventTimeReader, keyReader } from "./readers.ts";
import { partitionOf } from "./partition.ts";

const SUBJECT_CACHE_LIMIT = 10_000;

/**
 * The actors of an app that read a subject, by index (cached per subject, the cache bounded).
 *
 * @example
 * const actorsFor = actorsReading(app);
 * actorsFor("purchases.u1"); // [0]
 */
export function actorsReading(app: AppDefinition): (subject: string) => readonly number[] {
  const bySubject = new Map<string, number[]>();
  return (subject) => {
    let hit = bySubject.get(subject);
    if (hit) return hit;
    hit = [];
    for (let i = 0; i < app.actors.length; i++) {
      if (app.actors[i]!.input.some((p) => subjectMatches(p, subject))) hit.push(i);
    }
    if (bySubject.size >= SUBJECT_CACHE_LIMIT) bySubject.clear();
    bySubject.set(subject, hit);
    return hit;
  };
}

/** Whether a key is within the runtime's bound (three UTF-8 bytes per UTF-16 unit at most: only long keys are measured). */
export const keyFits = (key: string) => key.length * 3 <= MAX_KEY_BYTES || Buffer.byteLength(key) <= MAX_KEY_BYTES;

/**
 * The partitions an event belongs in, as a producer computes them: the distinct partitions of the
 * keys of every actor that reads its subject, lowest first. Undefined when the runtime would
 * dead-letter the event (no actor reads the subject, an actor finds no key or one too long, the
 * app reads event times and it has none): such an event is published unpartitioned, where the
 * repartition step dead-letters it once, with its reason.
 *
 * @example
 * partitionsFor(app, 32)("purchases.u1", { user_id: "u1", amount: 3 }); // [partitionOf("u1", 32)]
 */
export function partitionsFor(app: AppDefinition, partitions: number): (subject: string, value: unknown) => number[] | undefined {
  const actorsFor = actorsReading(app);
  const readers = app.actors.map((a) => keyReader(a.key));
  const timeOf = app.eventTime ? eventTimeReader(app.eventTime) : undefined;
  return (subject, value) => {
    const interested = actorsFor(subject);
    if (interested.length === 0) return undefined;
    if (timeOf && timeOf(value, subject) === undefined) return undefined;
    const out: number[] = [];
    for (const i of interested) {
      const key = readers[i]!(value, subject);
      if (key === undefined || !keyFits(key)) return undefined;
      const p = partitionOf(key, partitions);
      if (!out.includes(p)) out.push(p);
    }
    return out.sort((a, b) => a - b);
  };
}
