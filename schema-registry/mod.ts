// The schema registry's public surface. Everything else in schema-registry/ is internal.
export { createRegistry, parseVersion, MODES, type Registry, type RegistryOptions, type Mode, type SchemaRecord, type SubjectVersion, type SchemaRequest, type ConfigRecord } from "./registry.ts";
export { kvRegistryStore, DEFAULT_REGISTRY_BUCKET, type RegistryStore, type Versioned } from "./store.ts";
export { checkToken, registryApi, serveRegistry, REGISTRY_CONTENT_TYPE, type RegistryApiOptions, type RegistryServer } from "./http.ts";
export { RegistryError } from "./errors.ts";
export { parseSchema, compileValidator, SUPPORTED_SCHEMA_TYPES, type Validate, type SchemaReference, type ParsedSchema } from "./schema-types.ts";
export { checkCompatibility, diffJsonSchemas, COMPATIBILITY_LEVELS, type CompatibilityLevel, type CompatibilityPolicy, type SchemaChange } from "./compatibility/mod.ts";
