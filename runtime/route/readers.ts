import type { EventTimeSpec, KeySpec } from "../contract/mod.ts";

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
