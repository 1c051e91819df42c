import { change, under, type Change } from "./changes.ts";
import type { Differ } from "./diff.ts";
import type { ArrayNode, Node } from "./model.ts";
import { bound } from "./scalars.ts";

export function arrayChanges(d: Differ, w: ArrayNode, r: ArrayNode): Change[] {
  const out: Change[] = [];
  out.push(...under("/items", d.compare(w.items, r.items)));

  const shared = Math.min(w.tuple.length, r.tuple.length);
  for (let i = 0; i < Math.max(w.tuple.length, r.tuple.length); i++) {
    const at = `/items/${i}`;
    const written = w.tuple[i];
    const reading = r.tuple[i];
    if (i < shared) out.push(...under(at, d.compare(written, reading)));
    else if (written) out.push(...itemRemoved(d, i, at, written, r));
    else if (reading) out.push(...itemAdded(d, i, at, reading, w));
  }

  out.push(...d.extrasChanges("/additionalItems", "ADDITIONAL_ITEMS", "additional items", w.additional, r.additional));
  out.push(...d.unevaluatedChanges("/unevaluatedItems", "UNEVALUATED_ITEMS", "unevaluated items", w.unevaluated, r.unevaluated));
  bound(out, "maxItems", "MAX_ITEMS", w.maxItems, r.maxItems);
  bound(out, "minItems", "MIN_ITEMS", w.minItems, r.minItems);
  if (w.uniqueItems && !r.uniqueItems) out.push(change("UNIQUE_ITEMS_REMOVED", "/uniqueItems", "items no longer need to be unique"));
  else if (!w.uniqueItems && r.uniqueItems) out.push(change("UNIQUE_ITEMS_ADDED", "/uniqueItems", "items must now be unique"));
  bound(out, "maxContains", "MAX_CONTAINS", w.maxContains, r.maxContains);
  bound(out, "minContains", "MIN_CONTAINS", w.minContains, r.minContains);
  return out;
}

function itemRemoved(d: Differ, i: number, at: string, written: Node, r: ArrayNode): Change[] {
  if (arrayIsOpen(r)) return [change("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", at, `tuple item ${i} removed; the reader accepts any further items`)];
  const covering = arrayPartialSchema(r);
  if (covering) {
    const sub = under(at, d.compare(written, covering));
    return d.ok(sub)
      ? [...sub, change("ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `tuple item ${i} removed; still accepted as an additional item`)]
      : [...sub, change("ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `tuple item ${i} removed and the reader's additional-item schema does not accept what was written`)];
  }
  if (d.loader.deref(written).kind === "false") {
    return [change("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", at, `tuple item ${i}, which was never allowed, removed`)];
  }
  return [change("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", at, `tuple item ${i} removed from a closed tuple that rejects it`)];
}

function itemAdded(d: Differ, i: number, at: string, reading: Node, w: ArrayNode): Change[] {
  if (arrayIsOpen(w)) {
    return d.loader.deref(reading).kind === "empty"
      ? [change("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", at, `tuple item ${i} added with an empty schema`)]
      : [change("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", at, `tuple item ${i} added; the writer's open tuple may already have written anything there`)];
  }
  const covering = arrayPartialSchema(w);
  if (!covering) return [change("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", at, `tuple item ${i} added to a closed tuple`)];
  const sub = under(at, d.compare(covering, reading));
  return d.ok(sub)
    ? [...sub, change("ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `tuple item ${i} added; the writer's additional-item schema fits it`)]
    : [...sub, change("ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `tuple item ${i} added; the writer's additional-item schema does not fit it`)];
}

function arrayIsOpen(a: ArrayNode): boolean {
  return a.additional.permits && !a.additional.schema && (!a.unevaluated || a.unevaluated.kind === "empty");
}

function arrayPartialSchema(a: ArrayNode): Node | undefined {
  if (a.additional.schema) return a.additional.schema;
  if (!a.additional.present && a.unevaluated && a.unevaluated.kind !== "empty" && a.unevaluated.kind !== "false") return a.unevaluated;
  return undefined;
}
