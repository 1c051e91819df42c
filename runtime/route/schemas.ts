import { SchemaRejectedError, SchemaValidationError, UnknownSchemaError, retrying, subjectMatches, type AppDefinition, type SourceMsg, type WeirError } from "../contract/mod.ts";

/** Header naming the registered schema an event was produced with. */
export const SCHEMA_ID_HEADER = "Weir-Schema-Id";

/** Checks a value; undefined when valid, else a message naming what failed. */
export type SchemaValidate = (value: unknown) => string | undefined;

/**
 * What the runtime needs from a schema registry (the seam; `schema-registry/` implements it and the
 * CLI wires it in). Registry subjects follow Confluent's naming: `<subject>-value`.
 */
export interface SchemaRegistryPort {
  /** Registers a JSON Schema under a registry subject: its id, or the registry's reasons for refusing it. */
  register(subject: string, jsonSchema: unknown): Promise<{ id: number } | { refused: string }>;
  /** The validator for schema `id`, or undefined when no schema has that id. */
  validator(id: number): Promise<SchemaValidate | undefined>;
  /** The latest live version of a registry subject, or undefined when it has none. */
  latest(subject: string): Promise<{ id: number; validate: SchemaValidate } | undefined>;
  /** Registry subjects with a live version. */
  subjects(): Promise<string[]>;
}

/** Registry subject for the values published on a NATS subject (pattern). */
export const valueSubject = (subject: string) => `${subject}-value`;

/**
 * Registers every actor's input schema under `<input-subject>-value`; throws SchemaRejectedError with
 * the registry's messages when one is refused, so `weir run` stops before consuming anything.
 *
 * @example
 * await registerInputSchemas(port, app);
 */
export async function registerInputSchemas(port: SchemaRegistryPort, app: AppDefinition): Promise<void> {
  for (const actor of app.actors) {
    if (actor.eventJsonSchema === undefined) continue;
    for (const input of actor.input) {
      const subject = valueSubject(input);
      const r = await retrying(() => port.register(subject, actor.eventJsonSchema));
      if ("refused" in r) {
        throw new SchemaRejectedError(`the schema registry refused actor ${actor.name}'s input schema for ${subject}: ${r.refused}`);
      }
    }
  }
}

/** The schema id a message names, NaN for a malformed header, undefined without one. */
export function schemaIdOf(m: Pick<SourceMsg, "headers">): number | undefined {
  const raw = m.headers?.get(SCHEMA_ID_HEADER);
  if (!raw) return undefined;
  return /^\d+$/.test(raw) ? Number(raw) : NaN;
}

/**
 * Per-id validators for the decode stage: `prepare` loads (async, once per id) what a batch needs so
 * `check` can stay synchronous inside the router.
 */
export function schemaChecks(port: Pick<SchemaRegistryPort, "validator">) {
  const cache = new Map<number, SchemaValidate | undefined>();
  return {
    async prepare(msgs: readonly SourceMsg[]): Promise<void> {
      const missing = new Set<number>();
      for (const m of msgs) {
        const id = schemaIdOf(m);
        if (id !== undefined && !Number.isNaN(id) && !cache.has(id)) missing.add(id);
      }
      await Promise.all(
        [...missing].map(async (id) => {
          cache.set(id, await retrying(() => port.validator(id)));
        }),
      );
    },
    /** A terminal error when the message names a schema it does not satisfy (or an unknown one). */
    check(m: Pick<SourceMsg, "headers">, value: unknown): WeirError | undefined {
      const id = schemaIdOf(m);
      if (id === undefined) return undefined;
      if (Number.isNaN(id)) return new UnknownSchemaError(`${SCHEMA_ID_HEADER} header "${m.headers?.get(SCHEMA_ID_HEADER)}" is not a schema id`);
      if (!cache.has(id)) return new UnknownSchemaError(`schema id ${id} was not loaded`);
      const validate = cache.get(id);
      if (!validate) return new UnknownSchemaError(`schema id ${id} is not registered`);
      const problem = validate(value);
      return problem === undefined ? undefined : new SchemaValidationError(`event does not match schema ${id}: ${problem}`);
    },
  };
}

export type SchemaChecks = ReturnType<typeof schemaChecks>;

/**
 * The registry subject that governs a NATS subject: `<subject>-value` when registered, else the
 * registered `<pattern>-value` whose pattern matches (e.g. `orders.*-value` for `orders.eu`).
 *
 * @example
 * const s = await governingSubject(port, "orders.eu"); // "orders.*-value"
 */
export async function governingSubject(port: SchemaRegistryPort, natsSubject: string): Promise<string | undefined> {
  const exact = valueSubject(natsSubject);
  const all = await port.subjects();
  if (all.includes(exact)) return exact;
  return all.find((s) => s.endsWith("-value") && subjectMatches(s.slice(0, -"-value".length), natsSubject));
}
