import { createHash } from "node:crypto";
import { checkCompatibility, COMPATIBILITY_LEVELS, type CompatibilityLevel, type CompatibilityPolicy } from "./compatibility/mod.ts";
import { errors } from "./errors.ts";
import { compileValidator, parseSchema, SUPPORTED_SCHEMA_TYPES, type SchemaReference, type SchemaType, type Validate } from "./schema-types.ts";
import type { RegistryStore, Versioned } from "./store.ts";

export type Mode = "READWRITE" | "READONLY" | "IMPORT";
export const MODES: readonly Mode[] = ["READWRITE", "READONLY", "IMPORT"];

/** A schema by its global id. */
export interface SchemaRecord {
  id: number;
  schemaType: SchemaType;
  schema: string;
  references: SchemaReference[];
  /** Identity of the schema (type, canonical text, references): the same schema gets the same id. */
  hash: string;
}

/** One version of a subject, as the API answers it. */
export interface SubjectVersion {
  subject: string;
  version: number;
  id: number;
  schemaType: SchemaType;
  schema: string;
  references: SchemaReference[];
}

/** What a client sends to register, look up or test a schema. */
export interface SchemaRequest {
  schema: string;
  schemaType?: string;
  references?: SchemaReference[];
  /** Only in IMPORT mode (or equal to what the registry would pick). */
  id?: number;
  version?: number;
}

export interface ConfigRecord {
  compatibilityLevel?: CompatibilityLevel;
  /** weir's extension: how strictly JSON Schema changes are judged (default STRICT, as Confluent). */
  compatibilityPolicy?: CompatibilityPolicy;
  normalize?: boolean;
}

interface VersionEntry {
  version: number;
  id: number;
  deleted: boolean;
}

interface SubjectRecord {
  subject: string;
  versions: VersionEntry[];
}

/** `latest` (or -1) or a version number. */
export type VersionSpec = number | "latest";

/**
 * Parses a version path segment: a number in [1, 2^31-1], `latest` or `-1`; else 42202.
 *
 * @example
 * parseVersion("latest"); // "latest"
 */
export function parseVersion(raw: string): VersionSpec {
  if (raw === "latest" || raw === "-1") return "latest";
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 2 ** 31 - 1) throw errors.invalidVersion(raw);
  return n;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64url");
const KEYS = {
  ids: "ids",
  schema: (id: number) => `schema.${id}`,
  hash: (h: string) => `hash.${h}`,
  subject: (s: string) => `subject.${b64(s)}`,
  config: (s?: string) => (s === undefined ? "config" : `config.${b64(s)}`),
  mode: (s?: string) => (s === undefined ? "mode" : `mode.${b64(s)}`),
};

export interface RegistryOptions {
  store: RegistryStore;
  /** Compatibility level when neither the subject nor the global config sets one (default BACKWARD). */
  defaultLevel?: CompatibilityLevel;
}

export type Registry = ReturnType<typeof createRegistry>;

const CACHE_LIMIT = 10_000;

/**
 * The registry core: subjects, versions, global ids, compatibility and mode rules, with Confluent's
 * semantics and error codes. Every read goes to the store and every allocation is a compare-and-set
 * on it, so any number of registry processes sharing the store agree.
 *
 * @example
 * const registry = createRegistry({ store: await kvRegistryStore(nc) });
 * const { id } = await registry.register("orders-value", { schema: '{"type":"object"}', schemaType: "JSON" });
 */
export function createRegistry(opts: RegistryOptions) {
  const { store } = opts;
  const defaultLevel = opts.defaultLevel ?? "BACKWARD";
  // Schemas by id never change once written (IMPORT refuses to overwrite), so they cache safely.
  const byId = new Map<number, SchemaRecord>();
  const validators = new Map<number, Promise<Validate>>();

  async function schemaById(id: number): Promise<SchemaRecord> {
    const hit = byId.get(id);
    if (hit) return hit;
    const e = await store.get<SchemaRecord>(KEYS.schema(id));
    if (!e) throw errors.schemaNotFound(`Schema ${id} not found`);
    if (byId.size >= CACHE_LIMIT) byId.clear();
    byId.set(id, e.value);
    return e.value;
  }

  async function subjectRecord(subject: string): Promise<Versioned<SubjectRecord> | undefined> {
    return store.get<SubjectRecord>(KEYS.subject(subject));
  }

  /** The subject's versions visible with or without soft-deleted ones; 40401 when there are none. */
  async function visible(subject: string, deleted = false): Promise<VersionEntry[]> {
    const rec = await subjectRecord(subject);
    const list = rec?.value.versions.filter((v) => deleted || !v.deleted) ?? [];
    if (list.length === 0) throw errors.subjectNotFound(subject);
    return list;
  }

  function pick(subject: string, list: VersionEntry[], spec: VersionSpec): VersionEntry {
    const hit = spec === "latest" ? list[list.length - 1] : list.find((v) => v.version === spec);
    if (!hit) throw errors.versionNotFound(subject, spec);
    return hit;
  }

  async function toSubjectVersion(subject: string, v: VersionEntry): Promise<SubjectVersion> {
    const s = await schemaById(v.id);
    return { subject, version: v.version, id: v.id, schemaType: s.schemaType, schema: s.schema, references: s.references };
  }

  /** The referenced schemas' values by reference name (for validation and $ref resolution). */
  async function resolveReferences(refs: readonly SchemaReference[]): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    for (const r of refs) {
      let v: VersionEntry;
      try {
        v = pick(r.subject, await visible(r.subject), r.version === -1 ? "latest" : r.version);
      } catch {
        throw errors.invalidSchema(`Invalid schema: reference "${r.name}" names subject '${r.subject}' version ${r.version}, which is not registered`);
      }
      const s = await schemaById(v.id);
      for (const [name, value] of await resolveReferences(s.references)) out.set(name, value);
      out.set(r.name, JSON.parse(s.schema));
    }
    return out;
  }

  async function parseRequest(req: SchemaRequest, normalize: boolean) {
    const references = req.references ?? [];
    const refs = await resolveReferences(references);
    const parsed = parseSchema(req.schemaType, req.schema, { normalize, references: refs });
    const hash = createHash("sha256")
      .update(`${parsed.schemaType}\n${parsed.canonical}\n${JSON.stringify(references)}`)
      .digest("hex");
    return { parsed, references, refs, hash };
  }

  /** Moves the id counter with compare-and-set: `bump` maps the next free id to the new next free id. */
  async function moveIdCounter(bump: (next: number) => number): Promise<number> {
    for (;;) {
      const e = await store.get<{ next: number }>(KEYS.ids);
      const next = e?.value.next ?? 1;
      const moved = bump(next);
      if (moved === next) return next;
      const ok = e ? await store.update(KEYS.ids, { next: moved }, e.revision) : await store.create(KEYS.ids, { next: moved });
      if (ok) return next;
    }
  }
  const allocateId = () => moveIdCounter((next) => next + 1);

  /** The global id of a schema: the existing one for a schema seen before, else a fresh one. */
  async function idFor(rec: Omit<SchemaRecord, "id">, importId?: number): Promise<number> {
    if (importId !== undefined) {
      const existing = await store.get<SchemaRecord>(KEYS.schema(importId));
      if (existing && existing.value.hash !== rec.hash) {
        throw errors.notPermitted(`Overwrite new schema with id ${importId} is not permitted.`);
      }
      if (!existing) {
        await store.put(KEYS.schema(importId), { ...rec, id: importId });
        await store.create(KEYS.hash(rec.hash), { id: importId });
        // Keep fresh ids above imported ones, so an id is never handed out twice.
        await moveIdCounter((next) => Math.max(next, importId + 1));
      }
      return importId;
    }
    const known = await store.get<{ id: number }>(KEYS.hash(rec.hash));
    if (known) return known.value.id;
    const id = await allocateId();
    await store.put(KEYS.schema(id), { ...rec, id });
    if (await store.create(KEYS.hash(rec.hash), { id })) return id;
    // Another process registered the same schema at the same moment: use its id, drop ours.
    await store.delete(KEYS.schema(id));
    const winner = await store.get<{ id: number }>(KEYS.hash(rec.hash));
    if (!winner) throw errors.store(`schema hash ${rec.hash} vanished`);
    return winner.value.id;
  }

  async function getConfig(subject?: string): Promise<ConfigRecord | undefined> {
    return (await store.get<ConfigRecord>(KEYS.config(subject)))?.value;
  }

  async function effectiveConfig(subject: string): Promise<Required<Pick<ConfigRecord, "compatibilityLevel" | "compatibilityPolicy">> & ConfigRecord> {
    const [own, global] = await Promise.all([getConfig(subject), getConfig()]);
    return {
      ...global,
      ...own,
      compatibilityLevel: own?.compatibilityLevel ?? global?.compatibilityLevel ?? defaultLevel,
      compatibilityPolicy: own?.compatibilityPolicy ?? global?.compatibilityPolicy ?? "STRICT",
    };
  }

  async function effectiveMode(subject?: string): Promise<Mode> {
    const own = subject === undefined ? undefined : await store.get<{ mode: Mode }>(KEYS.mode(subject));
    return own?.value.mode ?? (await store.get<{ mode: Mode }>(KEYS.mode()))?.value.mode ?? "READWRITE";
  }

  async function assertWritable(subject: string): Promise<Mode> {
    const mode = await effectiveMode(subject);
    if (mode === "READONLY") throw errors.notPermitted(`Subject '${subject}' is in read-only mode`);
    return mode;
  }

  async function compatibilityMessages(
    subject: string,
    candidate: unknown,
    against: readonly VersionEntry[],
    refs: ReadonlyMap<string, unknown>,
    levelOverride?: CompatibilityLevel,
  ): Promise<string[]> {
    const cfg = await effectiveConfig(subject);
    const previous = await Promise.all(
      against.map(async (v) => ({ version: v.version, schema: JSON.parse((await schemaById(v.id)).schema) as unknown })),
    );
    const level = levelOverride ?? cfg.compatibilityLevel;
    return checkCompatibility(level, candidate, previous, { policy: cfg.compatibilityPolicy, resolveExternal: (ref) => refs.get(ref) });
  }

  /** Updates a subject record by compare-and-set, re-reading and re-deciding on every conflict. */
  async function casSubject<T>(
    subject: string,
    decide: (rec: SubjectRecord | undefined) => Promise<{ next: SubjectRecord | null; result: T } | { result: T; next?: undefined }>,
  ): Promise<T> {
    for (;;) {
      const cur = await subjectRecord(subject);
      const d = await decide(cur?.value);
      if (d.next === undefined) return d.result;
      let ok: boolean;
      if (d.next === null) {
        await store.delete(KEYS.subject(subject));
        ok = true;
      } else {
        ok = cur ? await store.update(KEYS.subject(subject), d.next, cur.revision) : await store.create(KEYS.subject(subject), d.next);
      }
      if (ok) return d.result;
    }
  }

  async function subjectNames(): Promise<SubjectRecord[]> {
    const keys = await store.keys("subject");
    const recs = await Promise.all(keys.map((k) => store.get<SubjectRecord>(k)));
    return recs.filter((r): r is Versioned<SubjectRecord> => r !== undefined).map((r) => r.value);
  }

  function hasVisible(rec: SubjectRecord, deleted: boolean): boolean {
    return rec.versions.some((v) => deleted || !v.deleted);
  }

  return {
    schemaTypes: (): string[] => [...SUPPORTED_SCHEMA_TYPES],

    schemaById,

    /** Subjects (and versions) where schema `id` is registered. */
    async usagesOfId(id: number, deleted = false): Promise<{ subject: string; version: number }[]> {
      await schemaById(id);
      const out: { subject: string; version: number }[] = [];
      for (const rec of await subjectNames()) {
        for (const v of rec.versions) if (v.id === id && (deleted || !v.deleted)) out.push({ subject: rec.subject, version: v.version });
      }
      return out.sort((a, b) => a.subject.localeCompare(b.subject) || a.version - b.version);
    },

    async subjects(q: { deleted?: boolean; prefix?: string } = {}): Promise<string[]> {
      return (await subjectNames())
        .filter((r) => hasVisible(r, q.deleted ?? false) && r.subject.startsWith(q.prefix ?? ""))
        .map((r) => r.subject)
        .sort();
    },

    async versions(subject: string, deleted = false): Promise<number[]> {
      return (await visible(subject, deleted)).map((v) => v.version);
    },

    async version(subject: string, spec: VersionSpec, deleted = false): Promise<SubjectVersion> {
      return toSubjectVersion(subject, pick(subject, await visible(subject, deleted), spec));
    },

    /** Is this schema registered under the subject? 40401 / 40403 when not. */
    async lookup(subject: string, req: SchemaRequest, q: { deleted?: boolean; normalize?: boolean } = {}): Promise<SubjectVersion> {
      const list = await visible(subject, q.deleted);
      const normalize = q.normalize ?? (await effectiveConfig(subject)).normalize ?? false;
      const { hash } = await parseRequest(req, normalize);
      for (let i = list.length - 1; i >= 0; i--) {
        const v = list[i]!;
        if ((await schemaById(v.id)).hash === hash) return toSubjectVersion(subject, v);
      }
      throw errors.schemaNotFound();
    },

    /**
     * Registers a schema under a subject: the existing version when it is already there, else a new
     * version after the compatibility check (409 with the reasons when it fails).
     */
    async register(subject: string, req: SchemaRequest, q: { normalize?: boolean } = {}): Promise<SubjectVersion> {
      const mode = await assertWritable(subject);
      const normalize = q.normalize ?? (await effectiveConfig(subject)).normalize ?? false;
      const { parsed, references, refs, hash } = await parseRequest(req, normalize);
      if (req.id !== undefined && mode !== "IMPORT") {
        const known = await store.get<{ id: number }>(KEYS.hash(hash));
        if (known?.value.id !== req.id) throw errors.notPermitted(`Schema id ${req.id} may only be given in IMPORT mode`);
      }
      const rec = { schemaType: parsed.schemaType, schema: parsed.canonical, references, hash };
      return casSubject(subject, async (cur) => {
        const versions = cur?.versions ?? [];
        for (const v of versions) {
          if (!v.deleted && (await schemaById(v.id)).hash === hash && (req.version === undefined || req.version === v.version)) {
            return { result: await toSubjectVersion(subject, v) };
          }
        }
        const nextVersion = (versions[versions.length - 1]?.version ?? 0) + 1;
        let version = nextVersion;
        if (req.version !== undefined) {
          if (mode !== "IMPORT" && req.version !== nextVersion) {
            throw errors.notPermitted(`Version ${req.version} may only be given in IMPORT mode (the next version is ${nextVersion})`);
          }
          if (versions.some((v) => v.version === req.version)) {
            throw errors.notPermitted(`Subject '${subject}' already has a version ${req.version}`);
          }
          version = req.version;
        }
        if (mode !== "IMPORT") {
          const live = versions.filter((v) => !v.deleted);
          const messages = await compatibilityMessages(subject, parsed.value, live, refs);
          if (messages.length > 0) {
            throw errors.incompatible(
              `Schema being registered is incompatible with an earlier schema for subject "${subject}", details: ${messages.join("; ")}`,
            );
          }
        }
        const id = await idFor(rec, mode === "IMPORT" ? req.id : undefined);
        const next = [...versions, { version, id, deleted: false }].sort((a, b) => a.version - b.version);
        return {
          next: { subject, versions: next },
          result: { subject, version, id, schemaType: parsed.schemaType, schema: parsed.canonical, references },
        };
      });
    },

    async deleteSubject(subject: string, permanent = false): Promise<number[]> {
      await assertWritable(subject);
      const result = await casSubject(subject, async (cur) => {
        if (!cur || cur.versions.length === 0) throw errors.subjectNotFound(subject);
        const live = cur.versions.filter((v) => !v.deleted);
        if (permanent) {
          if (live.length > 0) throw errors.subjectNotSoftDeleted(subject);
          return { next: null, result: cur.versions.map((v) => v.version) };
        }
        if (live.length === 0) throw errors.subjectSoftDeleted(subject);
        return { next: { subject, versions: cur.versions.map((v) => ({ ...v, deleted: true })) }, result: live.map((v) => v.version) };
      });
      if (permanent) await Promise.all([store.delete(KEYS.config(subject)), store.delete(KEYS.mode(subject))]);
      return result;
    },

    async deleteVersion(subject: string, spec: VersionSpec, permanent = false): Promise<number> {
      await assertWritable(subject);
      return casSubject(subject, async (cur) => {
        const all = cur?.versions ?? [];
        if (all.length === 0) throw errors.subjectNotFound(subject);
        if (!permanent) {
          const live = all.filter((v) => !v.deleted);
          if (live.length === 0) throw errors.subjectNotFound(subject);
          const hit = spec === "latest" ? live[live.length - 1] : all.find((v) => v.version === spec);
          if (!hit) throw errors.versionNotFound(subject, spec);
          if (hit.deleted) throw errors.versionSoftDeleted(subject, hit.version);
          return { next: { subject, versions: all.map((v) => (v === hit ? { ...v, deleted: true } : v)) }, result: hit.version };
        }
        const hit = spec === "latest" ? all[all.length - 1]! : all.find((v) => v.version === spec);
        if (!hit) throw errors.versionNotFound(subject, spec);
        if (!hit.deleted) throw errors.versionNotSoftDeleted(subject, hit.version);
        const rest = all.filter((v) => v !== hit);
        return { next: rest.length ? { subject, versions: rest } : null, result: hit.version };
      });
    },

    /** Ids of schemas whose references name this subject version. */
    async referencedBy(subject: string, spec: VersionSpec): Promise<number[]> {
      const v = pick(subject, await visible(subject), spec);
      const out = new Set<number>();
      for (const rec of await subjectNames()) {
        for (const e of rec.versions) {
          if (e.deleted) continue;
          const s = await schemaById(e.id);
          if (s.references.some((r) => r.subject === subject && r.version === v.version)) out.add(e.id);
        }
      }
      return [...out].sort((a, b) => a - b);
    },

    /** Compatibility of a schema with one version (`spec`) or with the versions the level names (`spec` undefined). */
    async testCompatibility(subject: string, spec: VersionSpec | undefined, req: SchemaRequest): Promise<{ compatible: boolean; messages: string[] }> {
      const { parsed, refs } = await parseRequest(req, false);
      const rec = await subjectRecord(subject);
      const live = rec?.value.versions.filter((v) => !v.deleted) ?? [];
      let against: VersionEntry[];
      let level: CompatibilityLevel | undefined;
      if (spec === undefined || (spec === "latest" && live.length === 0)) {
        // Nothing registered yet: any schema is compatible (as Confluent answers).
        against = live;
      } else {
        if (live.length === 0) throw errors.subjectNotFound(subject);
        against = [pick(subject, live, spec)];
        // A single named version: the transitive variants mean the same as the plain ones.
        level = (await effectiveConfig(subject)).compatibilityLevel.replace("_TRANSITIVE", "") as CompatibilityLevel;
      }
      const messages = await compatibilityMessages(subject, parsed.value, against, refs, level);
      return { compatible: messages.length === 0, messages };
    },

    /** The subject's own config (or the global one); undefined when `subject` has none and no fallback is asked. */
    async config(subject?: string, defaultToGlobal = false): Promise<ConfigRecord> {
      if (subject === undefined) {
        const g = await getConfig();
        return { ...g, compatibilityLevel: g?.compatibilityLevel ?? defaultLevel };
      }
      const own = await getConfig(subject);
      if (own) return own;
      if (!defaultToGlobal) throw errors.subjectConfigNotFound(subject);
      const g = await getConfig();
      return { ...g, compatibilityLevel: g?.compatibilityLevel ?? defaultLevel };
    },

    async setConfig(subject: string | undefined, update: ConfigRecord): Promise<ConfigRecord> {
      if (update.compatibilityLevel !== undefined && !COMPATIBILITY_LEVELS.includes(update.compatibilityLevel)) {
        throw errors.invalidLevel(update.compatibilityLevel);
      }
      const merged = { ...(await getConfig(subject)), ...update };
      await store.put(KEYS.config(subject), merged);
      return merged;
    },

    /** Removes the subject's own config (or resets the global one); answers the config removed. */
    async deleteConfig(subject?: string): Promise<ConfigRecord> {
      const before = await getConfig(subject);
      if (subject !== undefined && !before) {
        if (!(await subjectRecord(subject))) throw errors.subjectNotFound(subject);
        throw errors.subjectConfigNotFound(subject);
      }
      await store.delete(KEYS.config(subject));
      return { ...before, compatibilityLevel: before?.compatibilityLevel ?? defaultLevel };
    },

    async mode(subject?: string, defaultToGlobal = false): Promise<Mode> {
      if (subject !== undefined && !defaultToGlobal) {
        const own = await store.get<{ mode: Mode }>(KEYS.mode(subject));
        if (!own) throw errors.subjectModeNotFound(subject);
        return own.value.mode;
      }
      return effectiveMode(subject);
    },

    async setMode(subject: string | undefined, mode: string, force = false): Promise<Mode> {
      if (!(MODES as readonly string[]).includes(mode)) throw errors.invalidMode(mode);
      if (mode === "IMPORT" && !force) {
        const nonEmpty = subject === undefined ? (await subjectNames()).length > 0 : (await subjectRecord(subject)) !== undefined;
        if (nonEmpty) throw errors.notPermitted(`Cannot import since found existing subjects${subject ? ` ('${subject}')` : ""}; use force=true`);
      }
      await store.put(KEYS.mode(subject), { mode });
      return mode as Mode;
    },

    async deleteMode(subject: string): Promise<Mode> {
      const own = await store.get<{ mode: Mode }>(KEYS.mode(subject));
      if (!own) throw errors.subjectModeNotFound(subject);
      await store.delete(KEYS.mode(subject));
      return own.value.mode;
    },

    /**
     * A validator for events carrying schema `id` (compiled once per id, references resolved).
     * Rejects with 40403 when no schema has that id.
     */
    validator(id: number): Promise<Validate> {
      let v = validators.get(id);
      if (!v) {
        v = (async () => {
          const s = await schemaById(id);
          return compileValidator(JSON.parse(s.schema), await resolveReferences(s.references));
        })();
        // A failed load (unknown id, store down) is not cached: the next event asks again.
        v.catch(() => validators.delete(id));
        if (validators.size >= CACHE_LIMIT) validators.clear();
        validators.set(id, v);
      }
      return v;
    },
  };
}
