import type { SchemaRegistryPort } from "../runtime/mod.ts";
import { RegistryError, type Registry } from "../schema-registry/mod.ts";

const NOT_FOUND = new Set([40401, 40402, 40403]);

function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  return p.catch((err) => {
    if (err instanceof RegistryError && NOT_FOUND.has(err.errorCode)) return undefined;
    throw err;
  });
}

/**
 * Adapts the registry core to the runtime's seam (`SchemaRegistryPort`): refusals become values with
 * the registry's message, unknown ids and subjects become undefined, store failures stay errors (the
 * runtime retries those).
 *
 * @example
 * await startRuntime({ app, nats, registry: registryPort(createRegistry({ store })) });
 */
export function registryPort(registry: Registry): SchemaRegistryPort {
  return {
    async register(subject, jsonSchema) {
      const req = { schema: JSON.stringify(jsonSchema), schemaType: "JSON" };
      // An already registered schema is answered without a write, so a read-only registry still
      // lets apps whose schemas it holds start.
      const known = await orUndefined(registry.lookup(subject, req));
      if (known) return { id: known.id };
      try {
        return { id: (await registry.register(subject, req)).id };
      } catch (err) {
        if (err instanceof RegistryError && err.status < 500) return { refused: err.message };
        throw err;
      }
    },
    validator: (id) => orUndefined(registry.validator(id)),
    async latest(subject) {
      const v = await orUndefined(registry.version(subject, "latest"));
      return v && { id: v.id, validate: await registry.validator(v.id) };
    },
    subjects: () => registry.subjects(),
  };
}
