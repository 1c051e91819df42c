import { Ajv, type AnySchema } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import { errors } from "./errors.ts";

/** Schema types this registry accepts. Confluent's AVRO and PROTOBUF are refused with 42201 until supported. */
export const SUPPORTED_SCHEMA_TYPES = ["JSON"] as const;
export type SchemaType = (typeof SUPPORTED_SCHEMA_TYPES)[number];

/** JSON Schema drafts accepted; a schema without `$schema` is read as draft-07 (Confluent's default). */
export type JsonSchemaDraft = "draft-07" | "2020-12";

export interface SchemaReference {
  name: string;
  subject: string;
  version: number;
}

/** A schema as the registry stores and compares it. */
export interface ParsedSchema {
  schemaType: SchemaType;
  /** Compact JSON text (key order kept; sorted when normalized): what is stored and compared. */
  canonical: string;
  value: unknown;
  draft: JsonSchemaDraft;
}

const DRAFTS: Record<string, JsonSchemaDraft> = {
  "http://json-schema.org/draft-07/schema": "draft-07",
  "https://json-schema.org/draft/2020-12/schema": "2020-12",
};

function draftOf(value: unknown): JsonSchemaDraft {
  const declared = typeof value === "object" && value !== null ? (value as { $schema?: unknown }).$schema : undefined;
  if (declared === undefined) return "draft-07";
  const draft = typeof declared === "string" ? DRAFTS[declared.replace(/#$/, "")] : undefined;
  if (!draft) {
    throw errors.invalidSchema(`Invalid schema: unsupported $schema ${JSON.stringify(declared)} (supported: ${Object.keys(DRAFTS).join(", ")})`);
  }
  return draft;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
  return out;
}

function newAjv(draft: JsonSchemaDraft): Ajv {
  // Formats are not validated (no format plugin): schemas emitted by zod carry a `pattern` with the
  // real constraint beside `format`. strict: false accepts the annotation keywords users write.
  const opts = { allErrors: true, strict: false, validateFormats: false } as const;
  return draft === "2020-12" ? new Ajv2020(opts) : new Ajv(opts);
}

/**
 * Parses and checks a schema sent to the registry; throws 42201 (invalid schema) for an unsupported
 * type, text that is not JSON, or a document that is not a valid JSON Schema of its draft.
 * `references` maps reference names to the referenced schemas' values.
 *
 * @example
 * const parsed = parseSchema("JSON", '{"type":"object"}');
 */
export function parseSchema(
  schemaType: string | undefined,
  schema: string,
  opts: { normalize?: boolean; references?: ReadonlyMap<string, unknown> } = {},
): ParsedSchema {
  // Confluent reads a missing schemaType as AVRO.
  const type = schemaType ?? "AVRO";
  if (!(SUPPORTED_SCHEMA_TYPES as readonly string[]).includes(type)) {
    throw errors.invalidSchema(`Invalid schema: schema type ${type} is not supported (supported: ${SUPPORTED_SCHEMA_TYPES.join(", ")})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(schema);
  } catch (err) {
    throw errors.invalidSchema(`Invalid schema: not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== "boolean" && (typeof value !== "object" || value === null || Array.isArray(value))) {
    throw errors.invalidSchema("Invalid schema: a JSON Schema must be an object or a boolean");
  }
  const draft = draftOf(value);
  compile(value, draft, opts.references);
  const stored = opts.normalize ? sortKeys(value) : value;
  return { schemaType: "JSON", canonical: JSON.stringify(stored), value: stored, draft };
}

/** Checks a value; returns undefined when valid, else a message naming the failing paths. */
export type Validate = (value: unknown) => string | undefined;

function compile(value: unknown, draft: JsonSchemaDraft, references?: ReadonlyMap<string, unknown>) {
  const ajv = newAjv(draft);
  try {
    for (const [name, ref] of references ?? []) ajv.addSchema(ref as AnySchema, name);
    return { ajv, fn: ajv.compile(value as AnySchema) };
  } catch (err) {
    throw errors.invalidSchema(`Invalid schema: ${(err as Error).message}`);
  }
}

/**
 * Compiles a validator for a stored schema (callers cache it per schema id).
 *
 * @example
 * const validate = compileValidator(parsed.value);
 * validate({ amount: -1 }); // "/amount must be >= 0"
 */
export function compileValidator(value: unknown, references?: ReadonlyMap<string, unknown>): Validate {
  const { ajv, fn } = compile(value, draftOf(value), references);
  return (v) => (fn(v) ? undefined : ajv.errorsText(fn.errors, { dataVar: "event" }));
}
