import { change, type BoundName, type Change } from "./changes.ts";
import { deepEqual, type NumberNode, type StringNode } from "./model.ts";

export function stringChanges(w: StringNode, r: StringNode): Change[] {
  const out: Change[] = [];
  bound(out, "maxLength", "MAX_LENGTH", w.maxLength, r.maxLength);
  bound(out, "minLength", "MIN_LENGTH", w.minLength, r.minLength);
  if (w.pattern === undefined && r.pattern !== undefined) out.push(change("PATTERN_ADDED", "/pattern", `pattern ${JSON.stringify(r.pattern)} added`));
  else if (w.pattern !== undefined && r.pattern === undefined) out.push(change("PATTERN_REMOVED", "/pattern", `pattern ${JSON.stringify(w.pattern)} removed`));
  else if (w.pattern !== r.pattern) {
    out.push(change("PATTERN_CHANGED", "/pattern", `pattern changed from ${JSON.stringify(w.pattern)} to ${JSON.stringify(r.pattern)}`));
  }
  return out;
}

export function numberChanges(w: NumberNode, r: NumberNode): Change[] {
  const out: Change[] = [];
  bound(out, "maximum", "MAXIMUM", w.maximum, r.maximum);
  bound(out, "minimum", "MINIMUM", w.minimum, r.minimum);
  bound(out, "exclusiveMaximum", "EXCLUSIVE_MAXIMUM", w.exclusiveMaximum, r.exclusiveMaximum);
  bound(out, "exclusiveMinimum", "EXCLUSIVE_MINIMUM", w.exclusiveMinimum, r.exclusiveMinimum);
  const [a, b] = [w.multipleOf, r.multipleOf];
  if (a !== b) {
    if (a === undefined) out.push(change("MULTIPLE_OF_ADDED", "/multipleOf", `multipleOf ${b} added`));
    else if (b === undefined) out.push(change("MULTIPLE_OF_REMOVED", "/multipleOf", `multipleOf ${a} removed`));
    else if (isMultiple(b, a)) out.push(change("MULTIPLE_OF_EXPANDED", "/multipleOf", `multipleOf expanded from ${a} to ${b}`));
    else if (isMultiple(a, b)) out.push(change("MULTIPLE_OF_REDUCED", "/multipleOf", `multipleOf reduced from ${a} to ${b}`));
    else out.push(change("MULTIPLE_OF_CHANGED", "/multipleOf", `multipleOf changed from ${a} to ${b}`));
  }
  if (w.integer && !r.integer) out.push(change("TYPE_EXTENDED", "", `type extended from ["integer"] to ["number"]`));
  else if (!w.integer && r.integer) out.push(change("TYPE_NARROWED", "", `type narrowed from ["number"] to ["integer"]`));
  return out;
}

export function enumChanges(w: readonly unknown[], r: readonly unknown[]): Change[] {
  const added = r.filter((v) => !w.some((x) => deepEqual(x, v)));
  const removed = w.filter((v) => !r.some((x) => deepEqual(x, v)));
  if (added.length === 0 && removed.length === 0) return [];
  if (removed.length === 0) return [change("ENUM_ARRAY_EXTENDED", "/enum", `enum extended with ${JSON.stringify(added)}`)];
  if (added.length === 0) return [change("ENUM_ARRAY_NARROWED", "/enum", `enum narrowed: ${JSON.stringify(removed)} removed`)];
  return [change("ENUM_ARRAY_CHANGED", "/enum", `enum changed: ${JSON.stringify(removed)} removed, ${JSON.stringify(added)} added`)];
}

export function constChanges(w: unknown, r: unknown): Change[] {
  if (!deepEqual(w, r)) return [change("ENUM_ARRAY_CHANGED", "/const", `const changed from ${JSON.stringify(w)} to ${JSON.stringify(r)}`)];
  return [];
}

export function bound(out: Change[], keyword: string, name: BoundName, w: number | undefined, r: number | undefined): void {
  if (w === r) return;
  const at = `/${keyword}`;
  if (w === undefined) out.push(change(`${name}_ADDED`, at, `${keyword} ${r} added`));
  else if (r === undefined) out.push(change(`${name}_REMOVED`, at, `${keyword} ${w} removed`));
  else if (w < r) out.push(change(`${name}_INCREASED`, at, `${keyword} increased from ${w} to ${r}`));
  else out.push(change(`${name}_DECREASED`, at, `${keyword} decreased from ${w} to ${r}`));
}

function isMultiple(value: number, of: number): boolean {
  if (of === 0) return false;
  const q = value / of;
  return Math.abs(q - Math.round(q)) < 1e-9;
}
