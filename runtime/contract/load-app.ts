import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ActorDefinition, AppDefinition, EventTimeSpec, KeySpec } from "./app.ts";
import { AppDefinitionError } from "./errors.ts";

const DEFAULT_PARTITIONS = 32;

function isActor(v: unknown): v is ActorDefinition {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "weir.actor";
}

function isApp(v: unknown): v is AppDefinition {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "weir.app";
}

/** Absolute file URL of an app module given on the command line. */
export function appModuleUrl(path: string): string {
  return pathToFileURL(isAbsolute(path) ? path : resolve(process.cwd(), path)).href;
}

/**
 * Imports an app module and checks its shape: the default export (or an export named `app`) must
 * come from `defineApp`.
 *
 * @example
 * const app = await loadApp("./apps/user-totals/main.ts");
 */
export async function loadApp(path: string): Promise<AppDefinition> {
  let mod: Record<string, unknown>;
  try {
    mod = await import(appModuleUrl(path));
  } catch (err) {
    throw new AppDefinitionError(`cannot load app module ${path}: ${(err as Error).message}`, { cause: err });
  }
  const app = mod.default ?? mod.app;
  if (!isApp(app)) {
    throw new AppDefinitionError(`${path} must export default defineApp({ name, actors: [...] })`);
  }
  checkApp(app, path);
  return app;
}

function checkApp(app: AppDefinition, path: string): void {
  if (!Array.isArray(app.actors) || app.actors.length === 0) {
    throw new AppDefinitionError(`app ${app.name} (${path}) has no actors`);
  }
  for (const a of app.actors) {
    if (!isActor(a)) throw new AppDefinitionError(`app ${app.name}: every actor must come from defineActor`);
    for (const s of a.input) {
      if (typeof s !== "string" || s.length === 0 || /\s/.test(s)) {
        throw new AppDefinitionError(`actor ${a.name}: invalid input subject "${String(s)}"`);
      }
    }
  }
  partitionsOf(app);
}

export function partitionsOf(app: AppDefinition, override?: number): number {
  const p = override ?? app.partitions ?? DEFAULT_PARTITIONS;
  if (!Number.isInteger(p) || p < 1 || p > 4096) {
    throw new AppDefinitionError(`app ${app.name}: partitions must be an integer in 1..4096, got ${p}`);
  }
  return p;
}

/**
 * Compiles an app's event-time spec into a function from (decoded event, subject) to ms since the
 * epoch, or `undefined` when the event has no usable time. Numbers are ms; strings are parsed as
 * ISO-8601.
 *
 * @example
 * eventTimeReader({ field: "ts" })({ ts: "2026-01-01T00:00:00Z" }, "s"); // 1767225600000
 */
export function eventTimeReader(spec: EventTimeSpec): (value: unknown, subject: string) => number | undefined {
  const norm = (t: unknown): number | undefined => {
    if (typeof t === "number") return Number.isFinite(t) ? t : undefined;
    if (typeof t === "string") {
      const ms = Date.parse(t);
      return Number.isNaN(ms) ? undefined : ms;
    }
    return undefined;
  };
  return typeof spec === "function" ? guarded(spec, norm) : fieldReader(spec.field, norm);
}

/** A user function's result through `norm`; a throw reads as "none". */
function guarded<T>(fn: (value: any, subject: string) => unknown, norm: (v: unknown) => T | undefined) {
  return (value: unknown, subject: string): T | undefined => {
    try {
      return norm(fn(value, subject));
    } catch {
      return undefined;
    }
  };
}

/** A top-level field of an object event through `norm`. */
function fieldReader<T>(field: string, norm: (v: unknown) => T | undefined) {
  return (value: unknown): T | undefined =>
    typeof value === "object" && value !== null ? norm((value as Record<string, unknown>)[field]) : undefined;
}

/**
 * Compiles an actor's key spec into a function from (decoded event, subject) to a key, or
 * `undefined` when the event has none.
 */
export function keyReader(spec: KeySpec<any>): (value: unknown, subject: string) => string | undefined {
  const norm = (k: unknown): string | undefined => {
    if (typeof k === "string") return k.length > 0 ? k : undefined;
    if (typeof k === "number" && Number.isFinite(k)) return String(k);
    if (typeof k === "bigint") return k.toString();
    return undefined;
  };
  if (typeof spec === "function") return guarded(spec, norm);
  if ("token" in spec) {
    const i = spec.token;
    return (_value, subject) => norm(subject.split(".")[i]);
  }
  return fieldReader(spec.field, norm);
}
