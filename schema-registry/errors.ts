/**
 * Registry errors carry the HTTP status and Confluent's `{error_code, message}` body, so the API
 * layer answers them as they are (DESIGN.md habit 5). One factory per Confluent error code.
 */
export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RegistryError";
  }

  toJSON(): { error_code: number; message: string } {
    return { error_code: this.errorCode, message: this.message };
  }
}

export const errors = {
  subjectNotFound: (s: string) => new RegistryError(404, 40401, `Subject '${s}' not found.`),
  versionNotFound: (s: string, v: number | string) => new RegistryError(404, 40402, `Version ${v} not found for subject '${s}'.`),
  schemaNotFound: (what = "Schema not found") => new RegistryError(404, 40403, what),
  subjectSoftDeleted: (s: string) =>
    new RegistryError(404, 40404, `Subject '${s}' was soft deleted. Set permanent=true to delete permanently`),
  subjectNotSoftDeleted: (s: string) =>
    new RegistryError(404, 40405, `Subject '${s}' was not deleted first before being permanently deleted`),
  versionSoftDeleted: (s: string, v: number) =>
    new RegistryError(404, 40406, `Subject '${s}' Version ${v} was soft deleted. Set permanent=true to delete permanently`),
  versionNotSoftDeleted: (s: string, v: number) =>
    new RegistryError(404, 40407, `Subject '${s}' Version ${v} was not deleted first before being permanently deleted`),
  subjectConfigNotFound: (s: string) =>
    new RegistryError(404, 40408, `Subject '${s}' does not have subject-level compatibility configured`),
  subjectModeNotFound: (s: string) => new RegistryError(404, 40409, `Subject '${s}' does not have subject-level mode configured`),
  incompatible: (message: string) => new RegistryError(409, 409, message),
  invalidSchema: (message: string) => new RegistryError(422, 42201, message),
  invalidVersion: (v: string) =>
    new RegistryError(
      422,
      42202,
      `The specified version '${v}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`,
    ),
  invalidLevel: (got: unknown) =>
    new RegistryError(
      422,
      42203,
      `Invalid compatibility level '${String(got)}'. Valid values are NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE`,
    ),
  invalidConfig: (message: string) => new RegistryError(422, 42203, message),
  invalidMode: (got: unknown) => new RegistryError(422, 42204, `Invalid mode '${String(got)}'. Valid values are READWRITE, READONLY, IMPORT`),
  notPermitted: (message: string) => new RegistryError(422, 42205, message),
  unprocessable: (message: string) => new RegistryError(422, 422, message),
  badRequest: (message: string) => new RegistryError(400, 400, message),
  unauthorized: (message: string) => new RegistryError(401, 401, message),
  tooLarge: (limit: number) => new RegistryError(413, 413, `Request body larger than the limit of ${limit} bytes`),
  unsupportedMediaType: (type: string) =>
    new RegistryError(
      415,
      415,
      `Unsupported Content-Type '${type}': use application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json or application/octet-stream`,
    ),
  store: (message: string, cause?: unknown) => new RegistryError(500, 50001, `Error in the backend data store: ${message}`, { cause }),
};
