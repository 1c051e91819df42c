import { timingSafeEqual } from "node:crypto";
import { Hono, type Context } from "hono";
import { z } from "zod";
import { COMPATIBILITY_LEVELS, type CompatibilityLevel } from "./compatibility/mod.ts";
import { errors, RegistryError } from "./errors.ts";
import { parseVersion, type Registry, type SchemaRequest, type SubjectVersion } from "./registry.ts";

/** The media type every answer carries. */
export const REGISTRY_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
const ACCEPTED_TYPES = [REGISTRY_CONTENT_TYPE, "application/vnd.schemaregistry+json", "application/json", "application/octet-stream"];

export interface RegistryApiOptions {
  /** Bearer token required for writes (POST, PUT, DELETE); no token means writes are open. */
  token?: string;
  /** Also require the token for reads. */
  protectReads?: boolean;
  /** Largest request body accepted, in bytes (default 1 MiB); larger ones get 413. */
  maxBodyBytes?: number;
}

const referenceBody = z.object({ name: z.string(), subject: z.string(), version: z.number().int() });
const schemaBody = z.object({
  schema: z.string().optional(),
  schemaType: z.string().optional(),
  references: z.array(referenceBody).optional(),
  id: z.number().int().positive().optional(),
  version: z.number().int().positive().optional(),
});
const configBody = z.object({
  compatibility: z.string().optional(),
  compatibilityLevel: z.string().optional(),
  compatibilityPolicy: z.string().optional(),
  normalize: z.boolean().optional(),
});
const modeBody = z.object({ mode: z.string() });

function describeIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join(".") : "body"}: ${i.message}`).join("; ");
}

function tokenMatches(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Whether an `Authorization` header carries the token (as a bearer token, or Basic auth's
 * password, which Confluent clients send), compared in constant time.
 *
 * @example
 * checkToken(c.req.header("authorization"), "s3cret") // "ok" | "missing" | "wrong"
 */
export function checkToken(header: string | undefined, token: string): "ok" | "missing" | "wrong" {
  const given = presentedToken(header);
  if (!given) return "missing";
  return tokenMatches(given, token) ? "ok" : "wrong";
}

/** The token from `Authorization: Bearer <t>` or Basic auth's password (what Confluent clients send). */
function presentedToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(" ", 2);
  if (!value) return undefined;
  if (scheme?.toLowerCase() === "bearer") return value.trim();
  if (scheme?.toLowerCase() === "basic") {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    return decoded.slice(decoded.indexOf(":") + 1);
  }
  return undefined;
}

/** Reads the request body up to `limit` bytes; 413 beyond it whatever Content-Length claims. */
async function readBody(c: Context, limit: number): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > limit) throw errors.tooLarge(limit);
  const body = c.req.raw.body;
  if (!body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) throw errors.tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

const flag = (c: Context, name: string) => c.req.query(name) === "true";

function versionBody(v: SubjectVersion) {
  return {
    subject: v.subject,
    version: v.version,
    id: v.id,
    schemaType: v.schemaType,
    schema: v.schema,
    ...(v.references.length ? { references: v.references } : {}),
  };
}

function levelOf(raw: string | undefined): CompatibilityLevel | undefined {
  if (raw === undefined) return undefined;
  const up = raw.toUpperCase();
  if (!(COMPATIBILITY_LEVELS as readonly string[]).includes(up)) throw errors.invalidLevel(raw);
  return up as CompatibilityLevel;
}

/**
 * The registry's HTTP API (Confluent Schema Registry REST API) as a Hono app. Mount it at the root of
 * a server: clients address it by base URL.
 *
 * @example
 * Bun.serve({ port: 8081, fetch: registryApi(registry, { token: "s3cret" }).fetch });
 */
export function registryApi(registry: Registry, opts: RegistryApiOptions = {}): Hono {
  const maxBody = opts.maxBodyBytes ?? 1024 * 1024;
  const app = new Hono();
  const send = (c: Context, body: unknown, status = 200) =>
    c.body(JSON.stringify(body), status as 200, { "Content-Type": REGISTRY_CONTENT_TYPE });

  app.onError((err, c) => {
    if (err instanceof RegistryError) return send(c, err.toJSON(), err.status);
    return send(c, { error_code: 500, message: `Internal error: ${err.message}` }, 500);
  });
  app.notFound((c) => send(c, { error_code: 404, message: `HTTP 404 Not Found: no route ${c.req.method} ${c.req.path}` }, 404));

  app.use(async (c, next) => {
    const write = c.req.method !== "GET" && c.req.method !== "HEAD";
    if (opts.token && (write || opts.protectReads)) {
      const check = checkToken(c.req.header("authorization"), opts.token);
      if (check !== "ok") {
        c.header("WWW-Authenticate", 'Bearer realm="weir registry"');
        throw errors.unauthorized(check === "wrong" ? "Unauthorized: the token does not match" : "Unauthorized: this registry requires a bearer token");
      }
    }
    if (c.req.method === "POST" || c.req.method === "PUT") {
      const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
      if (type && !ACCEPTED_TYPES.includes(type)) throw errors.unsupportedMediaType(type);
    }
    await next();
  });

  async function body<T>(c: Context, schema: z.ZodType<T>): Promise<T> {
    const text = await readBody(c, maxBody);
    let json: unknown;
    try {
      json = text === "" ? {} : JSON.parse(text);
    } catch (err) {
      throw errors.badRequest(`Malformed JSON body: ${(err as Error).message}`);
    }
    const r = schema.safeParse(json);
    if (!r.success) throw errors.unprocessable(`Invalid request body: ${describeIssues(r.error)}`);
    return r.data;
  }

  async function schemaRequest(c: Context): Promise<SchemaRequest> {
    const b = await body(c, schemaBody);
    if (!b.schema) throw errors.invalidSchema("Invalid schema: empty schema");
    return { ...b, schema: b.schema };
  }

  const subject = (c: Context) => c.req.param("subject")!;
  const normalize = (c: Context) => (c.req.query("normalize") === undefined ? undefined : flag(c, "normalize"));
  const schemaId = (c: Context) => {
    const raw = c.req.param("id")!;
    const id = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(id)) throw errors.schemaNotFound(`Schema ${raw} not found`);
    return id;
  };

  app.get("/", (c) => send(c, {}));
  app.get("/schemas/types", (c) => send(c, registry.schemaTypes()));

  app.get("/schemas/ids/:id", async (c) => {
    const s = await registry.schemaById(schemaId(c));
    return send(c, { schema: s.schema, schemaType: s.schemaType, ...(s.references.length ? { references: s.references } : {}) });
  });
  app.get("/schemas/ids/:id/schema", async (c) => {
    const s = await registry.schemaById(schemaId(c));
    return c.body(s.schema, 200, { "Content-Type": REGISTRY_CONTENT_TYPE });
  });
  app.get("/schemas/ids/:id/subjects", async (c) => {
    const uses = await registry.usagesOfId(schemaId(c), flag(c, "deleted"));
    return send(c, [...new Set(uses.map((u) => u.subject))]);
  });
  app.get("/schemas/ids/:id/versions", async (c) => send(c, await registry.usagesOfId(schemaId(c), flag(c, "deleted"))));

  app.get("/subjects", async (c) =>
    send(c, await registry.subjects({ deleted: flag(c, "deleted"), prefix: c.req.query("subjectPrefix") ?? "" })),
  );
  app.post("/subjects/:subject", async (c) => {
    const found = await registry.lookup(subject(c), await schemaRequest(c), {
      deleted: flag(c, "deleted"),
      ...(normalize(c) !== undefined ? { normalize: normalize(c)! } : {}),
    });
    return send(c, versionBody(found));
  });
  app.delete("/subjects/:subject", async (c) => send(c, await registry.deleteSubject(subject(c), flag(c, "permanent"))));

  app.get("/subjects/:subject/versions", async (c) => send(c, await registry.versions(subject(c), flag(c, "deleted"))));
  app.post("/subjects/:subject/versions", async (c) => {
    const n = normalize(c);
    const v = await registry.register(subject(c), await schemaRequest(c), n !== undefined ? { normalize: n } : {});
    return send(c, versionBody(v));
  });
  app.get("/subjects/:subject/versions/:version", async (c) =>
    send(c, versionBody(await registry.version(subject(c), parseVersion(c.req.param("version")), flag(c, "deleted")))),
  );
  app.get("/subjects/:subject/versions/:version/schema", async (c) => {
    const v = await registry.version(subject(c), parseVersion(c.req.param("version")), flag(c, "deleted"));
    return c.body(v.schema, 200, { "Content-Type": REGISTRY_CONTENT_TYPE });
  });
  app.get("/subjects/:subject/versions/:version/referencedby", async (c) =>
    send(c, await registry.referencedBy(subject(c), parseVersion(c.req.param("version")))),
  );
  app.delete("/subjects/:subject/versions/:version", async (c) =>
    send(c, await registry.deleteVersion(subject(c), parseVersion(c.req.param("version")), flag(c, "permanent"))),
  );

  const compatibility = async (c: Context, version: string | undefined) => {
    const spec = version === undefined ? undefined : parseVersion(version);
    const r = await registry.testCompatibility(subject(c), spec, await schemaRequest(c));
    return send(c, flag(c, "verbose") ? { is_compatible: r.compatible, messages: r.messages } : { is_compatible: r.compatible });
  };
  app.post("/compatibility/subjects/:subject/versions/:version", (c) => compatibility(c, c.req.param("version")));
  app.post("/compatibility/subjects/:subject/versions", (c) => compatibility(c, undefined));

  const configAnswer = (cfg: { compatibilityLevel?: string; compatibilityPolicy?: string; normalize?: boolean }) => ({
    ...(cfg.compatibilityLevel ? { compatibilityLevel: cfg.compatibilityLevel } : {}),
    ...(cfg.compatibilityPolicy ? { compatibilityPolicy: cfg.compatibilityPolicy } : {}),
    ...(cfg.normalize !== undefined ? { normalize: cfg.normalize } : {}),
  });
  const putConfig = async (c: Context, subj: string | undefined) => {
    const b = await body(c, configBody);
    const level = levelOf(b.compatibility ?? b.compatibilityLevel);
    const policy = b.compatibilityPolicy?.toUpperCase();
    if (policy !== undefined && policy !== "STRICT" && policy !== "LENIENT") {
      throw errors.invalidConfig(`Invalid compatibilityPolicy '${b.compatibilityPolicy}'. Valid values are STRICT, LENIENT`);
    }
    if (level === undefined && policy === undefined && b.normalize === undefined) {
      throw errors.invalidConfig("Invalid config: send compatibility, compatibilityPolicy or normalize");
    }
    const update = {
      ...(level ? { compatibilityLevel: level } : {}),
      ...(policy ? { compatibilityPolicy: policy as "STRICT" | "LENIENT" } : {}),
      ...(b.normalize !== undefined ? { normalize: b.normalize } : {}),
    };
    await registry.setConfig(subj, update);
    // Like Confluent, the answer echoes the update (with `compatibility`, the request's field name).
    const { compatibilityLevel, ...rest } = configAnswer(update);
    return send(c, { ...(compatibilityLevel ? { compatibility: compatibilityLevel } : {}), ...rest });
  };
  app.get("/config", async (c) => send(c, configAnswer(await registry.config())));
  app.put("/config", (c) => putConfig(c, undefined));
  app.delete("/config", async (c) => send(c, configAnswer(await registry.deleteConfig())));
  app.get("/config/:subject", async (c) => send(c, configAnswer(await registry.config(subject(c), flag(c, "defaultToGlobal")))));
  app.put("/config/:subject", (c) => putConfig(c, subject(c)));
  app.delete("/config/:subject", async (c) => send(c, configAnswer(await registry.deleteConfig(subject(c)))));

  const putMode = async (c: Context, subj: string | undefined) => {
    const b = await body(c, modeBody);
    return send(c, { mode: await registry.setMode(subj, b.mode.toUpperCase(), flag(c, "force")) });
  };
  app.get("/mode", async (c) => send(c, { mode: await registry.mode() }));
  app.put("/mode", (c) => putMode(c, undefined));
  app.get("/mode/:subject", async (c) => send(c, { mode: await registry.mode(subject(c), flag(c, "defaultToGlobal")) }));
  app.put("/mode/:subject", (c) => putMode(c, subject(c)));
  app.delete("/mode/:subject", async (c) => send(c, { mode: await registry.deleteMode(subject(c)) }));

  return app;
}

export interface RegistryServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Serves the registry API with Bun.serve (default 127.0.0.1, port 8081 like Confluent's; 0 picks a
 * free port).
 *
 * @example
 * const srv = serveRegistry(registry, { port: 0 });
 * console.log(srv.url);
 */
export function serveRegistry(registry: Registry, opts: RegistryApiOptions & { hostname?: string; port?: number } = {}): RegistryServer {
  const server = Bun.serve({ hostname: opts.hostname ?? "127.0.0.1", port: opts.port ?? 8081, fetch: registryApi(registry, opts).fetch });
  return {
    url: `http://${server.hostname}:${server.port}`,
    port: server.port!,
    stop: () => server.stop(true),
  };
}
