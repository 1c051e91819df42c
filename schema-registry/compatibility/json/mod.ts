// JSON Schema compatibility checks for the registry, following the rules Confluent Schema Registry applies
// to JSON Schema (its SchemaDiff and Difference.Type), so that a subject evolves here exactly as it would
// there. Schemas are compared structurally, the way Confluent loads them: a schema object becomes one
// typed schema, or an allOf of its parts when it mixes a type with enum, const, not or combinators, and a
// `type` array becomes an anyOf of typed schemas. The "writer" is the schema data was written with (what
// Confluent calls the original), the "reader" the schema reading it (the update).

export { diffJsonSchemas, type CompatibilityOptions } from "./diff.ts";
export type { CompatibilityPolicy, SchemaChange } from "./changes.ts";
