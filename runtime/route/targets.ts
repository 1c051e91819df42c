import { MAX_KEY_BYTES, subjectMatcher, type AppDefinition } from "../contract/mod.ts";
import { eventTimeReader, keyReader } from "./readers.ts";
import { partitionOf } from "./partition.ts";

/**
 * The actors of an app that read a subject, by index: each actor's input patterns are compiled
 * once, and the list for each combination of actors is made once.
 *
 * @example
 * const actorsFor = actorsReading(app);
 * actorsFor("purchases.u1"); // [0]
 */
export function actorsReading(app: AppDefinition): (subject: string) => readonly number[] {
  const matchers = app.actors.map((a) => a.input.map(subjectMatcher));
  const reads = (i: number, subject: string) => {
    for (const m of matchers[i]!) if (m(subject)) return true;
    return false;
  };
  if (matchers.length > 30) return (subject) => matchers.flatMap((_, i) => (reads(i, subject) ? [i] : []));
  /** The actors' indexes, by the bit mask of those that read a subject. */
  const lists = new Map<number, number[]>();
  return (subject) => {
    let mask = 0;
    for (let i = 0; i < matchers.length; i++) if (reads(i, subject)) mask |= 1 << i;
    let list = lists.get(mask);
    if (!list) lists.set(mask, (list = matchers.flatMap((_, i) => (mask & (1 << i) ? [i] : []))));
    return list;
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
