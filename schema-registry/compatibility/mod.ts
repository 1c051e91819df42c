// Schema compatibility: the levels (levels.ts) over a diff per schema format (json/ for JSON Schema).
// Everything else in compatibility/ is internal.
import { diffJsonSchemas, type CompatibilityOptions } from "./json/mod.ts";
import { checkLevel, type CompatibilityLevel } from "./levels.ts";

export { COMPATIBILITY_LEVELS, type CompatibilityLevel } from "./levels.ts";
export { diffJsonSchemas, type CompatibilityOptions, type CompatibilityPolicy, type SchemaChange } from "./json/mod.ts";

/**
 * Checks a JSON Schema candidate against a subject's registered versions (oldest first) under a
 * compatibility level, as {@link checkLevel} does, comparing each pair with {@link diffJsonSchemas}.
 *
 * @example
 * checkCompatibility(
 *   "BACKWARD",
 *   { type: "object", properties: { amount: { type: "integer" } } },
 *   [{ version: 2, schema: { type: "object", properties: { amount: { type: "number" } } } }],
 * );
 * // ['TYPE_NARROWED at #/properties/amount: type narrowed from ["number"] to ["integer"] (reading data written with version 2)']
 */
export function checkCompatibility(
  level: CompatibilityLevel,
  candidate: unknown,
  previous: readonly { version: number; schema: unknown }[],
  options: CompatibilityOptions = {},
): string[] {
  return checkLevel(level, candidate, previous, (writer, reader) => diffJsonSchemas(writer, reader, options));
}
