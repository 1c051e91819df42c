import { change, under, type Change } from "./changes.ts";
import type { Differ } from "./diff.ts";
import { deepEqual, describe, type CombinedNode, type Node } from "./model.ts";

/** A plain writer against a reader union: fine when the writer fits one of the reader's alternatives. */
export function intoCombined(d: Differ, w: Node, r: CombinedNode): Change[] | undefined {
  const [only] = r.subs;
  if (only && r.subs.length === 1) {
    const changes = d.compare(w, only);
    return d.ok(changes) ? changes : undefined;
  }
  if (r.criterion === "allOf") return undefined;
  for (const sub of r.subs) {
    const changes = d.compare(w, sub);
    if (d.ok(changes)) {
      return [...changes, change("SUM_TYPE_EXTENDED", "", `${describe(w)} became one of ${r.subs.length} alternatives (${r.criterion})`)];
    }
  }
  return undefined;
}

/** A writer allOf against a plain reader: fine when one of the writer's conjuncts already satisfies the reader. */
export function outOfCombined(d: Differ, w: CombinedNode, r: Node): Change[] | undefined {
  const [only] = w.subs;
  if (only && w.subs.length === 1) {
    const changes = d.compare(only, r);
    if (d.ok(changes)) return changes;
  }
  if (w.criterion !== "allOf") return undefined;
  for (const sub of w.subs) {
    const changes = d.compare(sub, r);
    if (d.ok(changes)) return [...changes, change("PRODUCT_TYPE_NARROWED", "", `the reader keeps only part of the writer's allOf (${describe(r)})`)];
  }
  return undefined;
}

export function combinedChanges(d: Differ, w: CombinedNode, r: CombinedNode): Change[] {
  const out: Change[] = [];
  if (w.criterion !== r.criterion) {
    const extended =
      r.criterion === "anyOf" ||
      (r.criterion === "oneOf" && w.subs.length === 1) ||
      (r.criterion === "allOf" && w.subs.length === 1 && r.subs.length === 1);
    if (!extended) return [change("COMBINED_TYPE_CHANGED", "", `${w.criterion} changed to ${r.criterion}`)];
    out.push(change("COMBINED_TYPE_EXTENDED", "", `${w.criterion} relaxed to ${r.criterion}`));
  }
  const ws = distinctSubs(w);
  const rs = distinctSubs(r);
  if (ws.length < rs.length) {
    out.push(
      r.criterion === "allOf"
        ? change("PRODUCT_TYPE_EXTENDED", "", `allOf grew from ${ws.length} to ${rs.length} schemas`)
        : change("SUM_TYPE_EXTENDED", "", `${r.criterion} grew from ${ws.length} to ${rs.length} alternatives`),
    );
  } else if (ws.length > rs.length) {
    out.push(
      r.criterion === "allOf"
        ? change("PRODUCT_TYPE_NARROWED", "", `allOf shrank from ${ws.length} to ${rs.length} schemas`)
        : change("SUM_TYPE_NARROWED", "", `${r.criterion} shrank from ${ws.length} to ${rs.length} alternatives`),
    );
  }

  // Pair the writer's subschemas with the reader's by compatibility, as a maximum bipartite matching.
  const edges: (Change[] | undefined)[][] = ws.map((a) =>
    rs.map((b) => {
      const changes = under(a.path, d.compare(a.node, b.node));
      return d.ok(changes) ? changes : undefined;
    }),
  );
  const match = maximumMatching(edges, rs.length);
  for (const [i, j] of match) out.push(...(edges[i]?.[j] ?? []));
  if (match.length < Math.min(ws.length, rs.length)) {
    // Explain each unmatched writer subschema by its diff against an unmatched reader one of the same kind.
    const usedW = new Set(match.map(([i]) => i));
    const usedR = new Set(match.map(([, j]) => j));
    for (const [i, a] of ws.entries()) {
      if (usedW.has(i)) continue;
      const j = rs.findIndex((b, k) => !usedR.has(k) && d.loader.deref(b.node).kind === d.loader.deref(a.node).kind);
      const b = rs[j];
      if (!b) continue;
      usedR.add(j);
      out.push(...under(a.path, d.compare(a.node, b.node)).filter((c) => !d.compatibleKinds.has(c.kind)));
    }
    out.push(change("COMBINED_TYPE_SUBSCHEMAS_CHANGED", "", `no compatible pairing of the ${w.criterion} subschemas: ${describe(w)} vs ${describe(r)}`));
  }
  return out;
}

export function notChanges(d: Differ, writerExcludes: Node, readerExcludes: Node): Change[] {
  // The reader's excluded values must all have been excluded by the writer: compare the other way round.
  const reversed = d.compare(readerExcludes, writerExcludes);
  return [
    d.ok(reversed)
      ? change("NOT_TYPE_NARROWED", "/not", "the reader excludes fewer values")
      : change("NOT_TYPE_EXTENDED", "/not", "the reader excludes values the writer allowed"),
  ];
}

function distinctSubs(node: CombinedNode): { node: Node; path: string }[] {
  const seen: unknown[] = [];
  const out: { node: Node; path: string }[] = [];
  node.subs.forEach((sub, i) => {
    const raw = node.raws?.[i];
    if (node.raws) {
      if (seen.some((s) => deepEqual(s, raw))) return;
      seen.push(raw);
    }
    // Subschemas we combined ourselves (a type array, or keywords beside "type") have no place of their own.
    out.push({ node: sub, path: node.raws ? `/${node.criterion}/${i}` : "" });
  });
  return out;
}

/** Kuhn's augmenting paths; `edges[i][j]` is defined when writer subschema i may pair with reader subschema j. */
function maximumMatching(edges: readonly (readonly unknown[])[], readers: number): [number, number][] {
  const owner = new Array<number>(readers).fill(-1);
  const augment = (i: number, seen: boolean[]): boolean => {
    for (let j = 0; j < readers; j++) {
      if (edges[i]?.[j] === undefined || seen[j]) continue;
      seen[j] = true;
      const current = owner[j] ?? -1;
      if (current < 0 || augment(current, seen)) {
        owner[j] = i;
        return true;
      }
    }
    return false;
  };
  for (let i = 0; i < edges.length; i++) augment(i, new Array<boolean>(readers).fill(false));
  const pairs: [number, number][] = [];
  owner.forEach((i, j) => {
    if (i >= 0) pairs.push([i, j]);
  });
  return pairs;
}
