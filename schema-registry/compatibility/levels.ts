import type { SchemaChange } from "./json/mod.ts";

/** Compatibility levels, with Confluent's names and meanings. */
export type CompatibilityLevel =
  | "NONE"
  | "BACKWARD"
  | "BACKWARD_TRANSITIVE"
  | "FORWARD"
  | "FORWARD_TRANSITIVE"
  | "FULL"
  | "FULL_TRANSITIVE";

export const COMPATIBILITY_LEVELS: readonly CompatibilityLevel[] = [
  "NONE",
  "BACKWARD",
  "BACKWARD_TRANSITIVE",
  "FORWARD",
  "FORWARD_TRANSITIVE",
  "FULL",
  "FULL_TRANSITIVE",
];

/**
 * Checks a candidate schema against a subject's registered versions (oldest first) under a compatibility
 * level, and returns one message per incompatibility; `[]` means compatible. Non-transitive levels check
 * the latest version only. BACKWARD reads old data with the candidate, FORWARD reads the candidate's data
 * with old versions, FULL does both. `diff(writer, reader)` lists the differences between the schema data
 * was written with and the schema reading it, in the candidate's format.
 */
export function checkLevel(
  level: CompatibilityLevel,
  candidate: unknown,
  previous: readonly { version: number; schema: unknown }[],
  diff: (writer: unknown, reader: unknown) => SchemaChange[],
): string[] {
  if (level === "NONE" || previous.length === 0) return [];
  const newestFirst = [...previous].sort((a, b) => b.version - a.version);
  const against = level.endsWith("_TRANSITIVE") ? newestFirst : newestFirst.slice(0, 1);
  const backward = level.startsWith("BACKWARD") || level.startsWith("FULL");
  const forward = level.startsWith("FORWARD") || level.startsWith("FULL");
  const messages = new Set<string>();
  const report = (changes: SchemaChange[], direction: string) => {
    for (const c of changes) if (!c.compatible) messages.add(`${c.kind} at ${c.path}: ${c.message} (${direction})`);
  };
  for (const { version, schema } of against) {
    if (backward) report(diff(schema, candidate), `reading data written with version ${version}`);
    if (forward) report(diff(candidate, schema), `version ${version} reading data written with the new schema`);
  }
  return [...messages];
}
