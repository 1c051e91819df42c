import { arrayChanges } from "./arrays.ts";
import { change, LENIENT_COMPATIBLE, STRICT_COMPATIBLE, under, type Change, type CompatibilityPolicy, type Kind, type SchemaChange } from "./changes.ts";
import { combinedChanges, intoCombined, notChanges, outOfCombined } from "./combinators.ts";
import { deepEqual, describe, type Annotations, type Extras, type Node } from "./model.ts";
import { objectChanges } from "./objects.ts";
import { Loader } from "./refs.ts";
import { constChanges, enumChanges, numberChanges, stringChanges } from "./scalars.ts";

/** Options for {@link diffJsonSchemas} and {@link checkCompatibility}. */
export interface CompatibilityOptions {
  /** Default `STRICT`. */
  policy?: CompatibilityPolicy;
  /**
   * Resolves a `$ref` that does not point into the same schema document. Called with the part of the
   * reference before `#` (for Confluent schema references, the reference name); returns the referenced
   * schema document, in which a `#/...` fragment is then resolved. When it returns undefined the reference
   * is opaque: two opaque references are compatible only if they are the same reference.
   */
  resolveExternal?: (ref: string) => unknown | undefined;
}

/**
 * Lists every difference between the schema data was written with and the schema reading it, each
 * marked compatible or not under the policy. Confluent's registry runs the same comparison with
 * original = writer and update = reader.
 *
 * @example
 * const changes = diffJsonSchemas(
 *   { type: "object", properties: { amount: { type: "number" } } },
 *   { type: "object", properties: { amount: { type: "integer" } } },
 * );
 * // [{ kind: "TYPE_NARROWED", path: "#/properties/amount", compatible: false,
 * //    message: 'type narrowed from ["number"] to ["integer"]' }]
 */
export function diffJsonSchemas(writer: unknown, reader: unknown, options: CompatibilityOptions = {}): SchemaChange[] {
  const compatible = options.policy === "LENIENT" ? LENIENT_COMPATIBLE : STRICT_COMPATIBLE;
  const loader = new Loader(options.resolveExternal);
  const w = loader.load(loader.document(writer), writer);
  const r = loader.load(loader.document(reader), reader);
  return new Differ(loader, compatible).run(w, r).map((c) => ({
    kind: c.kind,
    path: c.path === "" ? "#/" : `#${c.path}`,
    compatible: compatible.has(c.kind),
    message: c.message,
  }));
}

// A recursive schema can make the fixed-point iteration below take one round per level of nesting.
const MAX_ROUNDS = 64;
const MAX_CHANGES = 100;

/**
 * Compares node pairs the way Confluent's SchemaDiff does. Recursion through `$ref` is cut by assuming a
 * pair already being compared is compatible; results are memoized per pair so that unions of recursive
 * definitions do not explode. The assumption is then checked: pairs found incompatible are fed back and
 * the comparison rerun until nothing new turns up (a greatest fixed point), so a change deep inside a cycle
 * is never hidden by it.
 */
export class Differ {
  private memo = new Map<Node, Map<Node, Change[]>>();
  private active = new Map<Node, Set<Node>>();
  /** Pairs met again while being compared, and taken as compatible for this round. */
  private assumed = new Map<Node, Set<Node>>();
  private readonly incompatiblePairs = new Map<Node, Map<Node, Change>>();

  constructor(
    readonly loader: Loader,
    readonly compatibleKinds: ReadonlySet<Kind>,
  ) {}

  run(writer: Node, reader: Node): Change[] {
    for (let round = 1; ; round++) {
      this.memo = new Map();
      this.active = new Map();
      this.assumed = new Map();
      const changes = this.compare(writer, reader);
      if (!this.learnIncompatiblePairs() || round >= MAX_ROUNDS) return changes;
    }
  }

  /**
   * Drops repeated changes and keeps at most MAX_CHANGES, one of them incompatible if any was: in recursive
   * unions every level repeats the changes of the levels below, which would otherwise grow exponentially.
   */
  private bounded(changes: Change[]): Change[] {
    const seen = new Set<string>();
    const distinct = changes.filter((c) => {
      const key = `${c.kind} ${c.path}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (distinct.length <= MAX_CHANGES) return distinct;
    const kept = distinct.slice(0, MAX_CHANGES);
    const breaking = distinct.find((c) => !this.compatibleKinds.has(c.kind));
    if (breaking && this.ok(kept)) kept[MAX_CHANGES - 1] = breaking;
    return kept;
  }

  ok(changes: readonly Change[]): boolean {
    return changes.every((c) => this.compatibleKinds.has(c.kind));
  }

  /** Records the pairs found incompatible; true when one of them had been assumed compatible, so the round was wrong. */
  private learnIncompatiblePairs(): boolean {
    let wrong = false;
    for (const [w, byReader] of this.memo) {
      for (const [r, changes] of byReader) {
        if (this.incompatiblePairs.get(w)?.has(r)) continue;
        const first = changes.find((c) => !this.compatibleKinds.has(c.kind));
        if (!first) continue;
        getOrCreate(this.incompatiblePairs, w, () => new Map<Node, Change>()).set(r, first);
        if (this.assumed.get(w)?.has(r)) wrong = true;
      }
    }
    return wrong;
  }

  compare(writer: Node | undefined, reader: Node | undefined): Change[] {
    if (!writer && !reader) return [];
    if (!writer) return [change("SCHEMA_ADDED", "", "schema added; the writer did not constrain this")];
    if (!reader) return [change("SCHEMA_REMOVED", "", "schema removed")];
    const w = this.loader.deref(writer);
    const r = this.loader.deref(reader);
    const cached = this.memo.get(w)?.get(r);
    if (cached) return cached;
    const active = getOrCreate(this.active, w, () => new Set<Node>());
    if (active.has(r)) {
      const known = this.incompatiblePairs.get(w)?.get(r);
      if (known) return [{ ...known, path: "", message: `${known.message} (through a recursive reference)` }];
      getOrCreate(this.assumed, w, () => new Set<Node>()).add(r);
      return [];
    }
    active.add(r);
    let changes: Change[];
    try {
      changes = this.bounded(this.compareResolved(w, r));
    } finally {
      active.delete(r);
    }
    getOrCreate(this.memo, w, () => new Map<Node, Change[]>()).set(r, changes);
    return changes;
  }

  private compareResolved(w: Node, r: Node): Change[] {
    if (w.kind !== "combined" && r.kind === "combined") {
      const found = intoCombined(this, w, r);
      if (found) return found;
    } else if (w.kind === "combined" && r.kind !== "combined") {
      const found = outOfCombined(this, w, r);
      if (found) return found;
    }
    if (w.kind !== r.kind) {
      // Nothing was written with `false`, and the empty schema reads anything.
      if (w.kind === "false" || r.kind === "empty") return [];
      return [change("TYPE_CHANGED", "", `type changed from ${describe(w)} to ${describe(r)}`)];
    }
    const out = annotationChanges(w.ann, r.ann);
    if (w.kind === "string" && r.kind === "string") out.push(...stringChanges(w, r));
    else if (w.kind === "number" && r.kind === "number") out.push(...numberChanges(w, r));
    else if (w.kind === "object" && r.kind === "object") out.push(...objectChanges(this, w, r));
    else if (w.kind === "array" && r.kind === "array") out.push(...arrayChanges(this, w, r));
    else if (w.kind === "combined" && r.kind === "combined") out.push(...combinedChanges(this, w, r));
    else if (w.kind === "enum" && r.kind === "enum") out.push(...enumChanges(w.values, r.values));
    else if (w.kind === "const" && r.kind === "const") out.push(...constChanges(w.value, r.value));
    else if (w.kind === "not" && r.kind === "not") out.push(...notChanges(this, w.sub, r.sub));
    else if (w.kind === "opaque" && r.kind === "opaque") {
      if (!deepEqual(w.value, r.value)) out.push(change("TYPE_CHANGED", "", `${w.label} changed to ${r.label}`));
    }
    // if/then/else is not compared, as in Confluent; null, boolean, empty and false have nothing to compare.
    return out;
  }

  extrasChanges(
    at: string,
    prefix: "ADDITIONAL_PROPERTIES" | "ADDITIONAL_ITEMS",
    what: string,
    w: Extras,
    r: Extras,
  ): Change[] {
    if (w.permits !== r.permits) {
      return r.permits ? [change(`${prefix}_ADDED`, at, `${what} now allowed`)] : [change(`${prefix}_REMOVED`, at, `${what} no longer allowed`)];
    }
    if (!w.schema && r.schema) return [change(`${prefix}_NARROWED`, at, `${what} now restricted to ${describe(this.loader.deref(r.schema))}`)];
    if (w.schema && !r.schema) return [change(`${prefix}_EXTENDED`, at, `${what} no longer restricted`)];
    return under(at, this.compare(w.schema, r.schema));
  }

  unevaluatedChanges(
    at: string,
    prefix: "UNEVALUATED_PROPERTIES" | "UNEVALUATED_ITEMS",
    what: string,
    writer: Node | undefined,
    reader: Node | undefined,
  ): Change[] {
    if (!writer && !reader) return [];
    const w = writer && this.loader.deref(writer);
    const r = reader && this.loader.deref(reader);
    const openW = !w || w.kind === "empty";
    const openR = !r || r.kind === "empty";
    const closedW = w?.kind === "false";
    const closedR = r?.kind === "false";
    if (closedW && !closedR) return [change(`${prefix}_ADDED`, at, `${what} now allowed`)];
    if (!closedW && closedR) return [change(`${prefix}_REMOVED`, at, `${what} no longer allowed`)];
    if (openW && openR) return [];
    if (openW && r) return [change(`${prefix}_NARROWED`, at, `${what} now restricted to ${describe(r)}`)];
    if (openR) return [change(`${prefix}_EXTENDED`, at, `${what} no longer restricted`)];
    return under(at, this.compare(w, r));
  }
}

function annotationChanges(w: Annotations, r: Annotations): Change[] {
  const out: Change[] = [];
  if (!deepEqual(w.id, r.id)) out.push(change("ID_CHANGED", "", `id changed from ${JSON.stringify(w.id)} to ${JSON.stringify(r.id)}`));
  if (!deepEqual(w.title, r.title)) out.push(change("TITLE_CHANGED", "", `title changed from ${JSON.stringify(w.title)} to ${JSON.stringify(r.title)}`));
  if (!deepEqual(w.description, r.description)) out.push(change("DESCRIPTION_CHANGED", "", "description changed"));
  if (!deepEqual(w.default, r.default)) out.push(change("DEFAULT_CHANGED", "", `default changed from ${JSON.stringify(w.default)} to ${JSON.stringify(r.default)}`));
  return out;
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}
