import { change, under, type Change } from "./changes.ts";
import type { Differ } from "./diff.ts";
import type { Node, ObjectNode } from "./model.ts";
import { bound } from "./scalars.ts";

export function objectChanges(d: Differ, w: ObjectNode, r: ObjectNode): Change[] {
  const out: Change[] = [];
  for (const name of w.properties.keys()) {
    const reading = r.properties.get(name);
    if (!reading) continue;
    const was = w.required.has(name);
    const is = r.required.has(name);
    const at = `/required/${escapePointer(name)}`;
    if (was && !is) out.push(change("REQUIRED_ATTRIBUTE_REMOVED", at, `property "${name}" is no longer required`));
    else if (!was && is) {
      out.push(
        hasDefault(d, reading)
          ? change("REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", at, `property "${name}" became required, with a default`)
          : change("REQUIRED_ATTRIBUTE_ADDED", at, `property "${name}" became required without a default`),
      );
    }
  }

  const names = [...w.properties.keys(), ...[...r.properties.keys()].filter((n) => !w.properties.has(n))];
  for (const name of names) {
    const at = `/properties/${escapePointer(name)}`;
    const written = w.properties.get(name);
    const reading = r.properties.get(name);
    if (written && reading) out.push(...under(at, d.compare(written, reading)));
    else if (written) out.push(...propertyRemoved(d, name, at, written, r));
    else if (reading) out.push(...propertyAdded(d, name, at, reading, w, r));
  }

  for (const name of unionKeys(w.dependencyArrays, r.dependencyArrays)) {
    const was = w.dependencyArrays.get(name);
    const is = r.dependencyArrays.get(name);
    const at = `/${(was ?? is)?.keyword ?? "dependencies"}/${escapePointer(name)}`;
    if (!is) out.push(change("DEPENDENCY_ARRAY_REMOVED", at, `dependency of "${name}" removed`));
    else if (!was) out.push(change("DEPENDENCY_ARRAY_ADDED", at, `dependency of "${name}" on ${JSON.stringify(is.names)} added`));
    else {
      const before = new Set(was.names);
      const after = new Set(is.names);
      if (before.size === after.size && [...before].every((n) => after.has(n))) continue;
      const from = `${JSON.stringify(was.names)} to ${JSON.stringify(is.names)}`;
      if ([...before].every((n) => after.has(n))) out.push(change("DEPENDENCY_ARRAY_EXTENDED", at, `dependency of "${name}" extended from ${from}`));
      else if ([...after].every((n) => before.has(n))) out.push(change("DEPENDENCY_ARRAY_NARROWED", at, `dependency of "${name}" narrowed from ${from}`));
      else out.push(change("DEPENDENCY_ARRAY_CHANGED", at, `dependency of "${name}" changed from ${from}`));
    }
  }
  for (const name of unionKeys(w.dependencySchemas, r.dependencySchemas)) {
    const was = w.dependencySchemas.get(name);
    const is = r.dependencySchemas.get(name);
    const at = `/${(was ?? is)?.keyword ?? "dependencies"}/${escapePointer(name)}`;
    if (!is) out.push(change("DEPENDENCY_SCHEMA_REMOVED", at, `dependent schema of "${name}" removed`));
    else if (!was) out.push(change("DEPENDENCY_SCHEMA_ADDED", at, `dependent schema of "${name}" added`));
    else out.push(...under(at, d.compare(was.schema, is.schema)));
  }

  out.push(...d.extrasChanges("/additionalProperties", "ADDITIONAL_PROPERTIES", "additional properties", w.additional, r.additional));
  out.push(...d.unevaluatedChanges("/unevaluatedProperties", "UNEVALUATED_PROPERTIES", "unevaluated properties", w.unevaluated, r.unevaluated));
  bound(out, "maxProperties", "MAX_PROPERTIES", w.maxProperties, r.maxProperties);
  bound(out, "minProperties", "MIN_PROPERTIES", w.minProperties, r.minProperties);
  return out;
}

/** The writer declared a property the reader does not: only the reader's content model decides. */
function propertyRemoved(d: Differ, name: string, at: string, written: Node, r: ObjectNode): Change[] {
  if (objectIsOpen(r)) return [change("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", at, `property "${name}" removed; the reader's open content model accepts it`)];
  const covering = objectPartialSchema(r, name);
  if (covering) {
    const sub = under(at, d.compare(written, covering));
    return d.ok(sub)
      ? [...sub, change("PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `property "${name}" removed; still accepted as an additional property`)]
      : [...sub, change("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `property "${name}" removed and the reader's additional-property schema does not accept what was written`)];
  }
  if (d.loader.deref(written).kind === "false") {
    return [change("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", at, `property "${name}", which was never allowed, removed`)];
  }
  return [change("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", at, `property "${name}" removed from a closed content model that rejects it`)];
}

/** The reader declares a property the writer did not: only the writer's content model decides. */
function propertyAdded(d: Differ, name: string, at: string, reading: Node, w: ObjectNode, r: ObjectNode): Change[] {
  const required = r.required.has(name);
  const withDefault = required && hasDefault(d, reading);
  if (objectIsOpen(w)) {
    if (d.loader.deref(reading).kind === "empty") {
      return [change("PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", at, `property "${name}" added with an empty schema`)];
    }
    const why = "the writer's open content model may already have written it with another type";
    if (!required) return [change("OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", at, `optional property "${name}" added; ${why}`)];
    return withDefault
      ? [change("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL", at, `required property "${name}" with a default added; ${why}`)]
      : [change("REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", at, `required property "${name}" added without a default; ${why}`)];
  }
  const out: Change[] = [];
  const covering = objectPartialSchema(w, name);
  if (covering) {
    const sub = under(at, d.compare(covering, reading));
    out.push(...sub);
    out.push(
      d.ok(sub)
        ? change("PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `property "${name}" added; the writer's additional-property schema fits it`)
        : change("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `property "${name}" added; the writer's additional-property schema does not fit it`),
    );
  }
  if (!required) out.push(change("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", at, `optional property "${name}" added`));
  else if (withDefault) out.push(change("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL", at, `required property "${name}" added with a default`));
  else out.push(change("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", at, `required property "${name}" added without a default`));
  return out;
}

function hasDefault(d: Differ, node: Node): boolean {
  return node.ann.hasDefault || d.loader.deref(node).ann.hasDefault;
}

function objectIsOpen(o: ObjectNode): boolean {
  return o.patternProperties.length === 0 && o.additional.permits && !o.additional.schema && (!o.unevaluated || o.unevaluated.kind === "empty");
}

/** The schema a partially open object applies to an undeclared property, if any. */
function objectPartialSchema(o: ObjectNode, name: string): Node | undefined {
  for (const p of o.patternProperties) if (p.test(name)) return p.schema;
  if (o.additional.schema) return o.additional.schema;
  if (!o.additional.present && o.unevaluated && o.unevaluated.kind !== "empty" && o.unevaluated.kind !== "false") return o.unevaluated;
  return undefined;
}

function escapePointer(name: string): string {
  return name.replace(/~/g, "~0").replace(/\//g, "~1");
}

function unionKeys<K>(a: ReadonlyMap<K, unknown>, b: ReadonlyMap<K, unknown>): K[] {
  return [...a.keys(), ...[...b.keys()].filter((k) => !a.has(k))];
}
