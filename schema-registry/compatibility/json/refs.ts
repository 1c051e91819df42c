import { build, EMPTY, FALSE, idOf, isRecord, NO_ANNOTATIONS, type Node, type RefNode } from "./model.ts";

export interface Doc {
  readonly root: unknown;
  /** 2019-09 / 2020-12: `$ref` siblings apply. Draft-07 and older ignore them. */
  readonly modern: boolean;
  readonly base?: string;
  readonly ids: Map<string, unknown>;
  readonly anchors: Map<string, unknown>;
  readonly nodes: WeakMap<object, Node>;
}

// Values under these keywords are data, not schemas: an "$id" inside them names nothing.
const DATA_KEYWORDS = new Set(["enum", "const", "default", "examples"]);

/** Turns parsed JSON schemas into nodes, resolving `$ref` lazily so recursive schemas stay finite. */
export class Loader {
  private readonly externals = new Map<string, Doc | undefined>();

  constructor(private readonly resolveExternal?: (ref: string) => unknown | undefined) {}

  document(root: unknown, inheritModern = false): Doc {
    const dialect = isRecord(root) && typeof root.$schema === "string" ? root.$schema : undefined;
    const modern = dialect === undefined ? inheritModern : /2019-09|2020-12/.test(dialect);
    const rootId = isRecord(root) ? idOf(root) : undefined;
    const base = rootId === undefined || rootId.startsWith("#") ? undefined : resolveUrl(rootId, undefined);
    const doc: Doc = { root, modern, base, ids: new Map(), anchors: new Map(), nodes: new WeakMap() };
    indexIds(doc, root, base);
    return doc;
  }

  load(doc: Doc, raw: unknown): Node {
    if (raw === true) return EMPTY;
    if (raw === false) return FALSE;
    if (!isRecord(raw)) return { kind: "opaque", ann: NO_ANNOTATIONS, value: raw, label: `the non-schema value ${JSON.stringify(raw)}` };
    const cached = doc.nodes.get(raw);
    if (cached) return cached;
    const node = build(this, doc, raw);
    doc.nodes.set(raw, node);
    return node;
  }

  /** Follows `$ref`s to the schema they name; a loop of references that never reaches one is the empty schema. */
  deref(node: Node): Node {
    const seen = new Set<Node>();
    let cur = node;
    while (cur.kind === "ref") {
      if (seen.has(cur)) return EMPTY;
      seen.add(cur);
      cur.target ??= this.resolve(cur);
      cur = cur.target;
    }
    return cur;
  }

  private resolve(node: RefNode): Node {
    const { ref, doc } = node;
    const hash = ref.indexOf("#");
    const baseRef = hash < 0 ? ref : ref.slice(0, hash);
    const fragment = hash < 0 ? "" : ref.slice(hash + 1);
    let target = doc;
    let start: unknown = doc.root;
    if (baseRef !== "") {
      const absolute = resolveUrl(baseRef, doc.base);
      const embedded = doc.ids.get(baseRef) ?? (absolute === undefined ? undefined : doc.ids.get(absolute));
      if (embedded !== undefined) start = embedded;
      else if (absolute === undefined || absolute !== doc.base) {
        const external = this.external(baseRef, doc.modern);
        if (!external) return opaqueRef(ref);
        target = external;
        start = external.root;
      }
    }
    let raw: unknown = start;
    if (fragment.startsWith("/")) raw = pointer(start, fragment);
    else if (fragment !== "") raw = target.anchors.get(decode(fragment));
    return raw === undefined ? opaqueRef(ref) : this.load(target, raw);
  }

  private external(name: string, inheritModern: boolean): Doc | undefined {
    if (!this.externals.has(name)) {
      const schema = this.resolveExternal?.(name);
      this.externals.set(name, schema === undefined ? undefined : this.document(schema, inheritModern));
    }
    return this.externals.get(name);
  }
}

function opaqueRef(ref: string): Node {
  return { kind: "opaque", ann: NO_ANNOTATIONS, value: ref, label: `the unresolved reference ${JSON.stringify(ref)}` };
}

function indexIds(doc: Doc, value: unknown, base: string | undefined): void {
  if (Array.isArray(value)) {
    for (const v of value) indexIds(doc, v, base);
    return;
  }
  if (!isRecord(value)) return;
  let here = base;
  const id = idOf(value);
  if (id !== undefined && value !== doc.root) {
    if (id.startsWith("#")) doc.anchors.set(id.slice(1), value);
    else {
      const absolute = resolveUrl(id, base);
      doc.ids.set(id, value);
      if (absolute !== undefined) {
        doc.ids.set(absolute, value);
        here = absolute;
      }
    }
  }
  if (typeof value.$anchor === "string") doc.anchors.set(value.$anchor, value);
  for (const [k, v] of Object.entries(value)) if (!DATA_KEYWORDS.has(k)) indexIds(doc, v, here);
}

function pointer(start: unknown, fragment: string): unknown {
  let cur = start;
  for (const token of fragment.split("/").slice(1).map(decode)) {
    if (Array.isArray(cur)) cur = cur[Number(token)];
    else if (isRecord(cur) && Object.hasOwn(cur, token)) cur = cur[token];
    else return undefined;
  }
  return cur;
}

function decode(token: string): string {
  let s = token;
  try {
    s = decodeURIComponent(token);
  } catch {
    // Not percent-encoded after all: use it as written.
  }
  return s.replace(/~1/g, "/").replace(/~0/g, "~");
}

function resolveUrl(ref: string, base: string | undefined): string | undefined {
  try {
    return new URL(ref, base).href;
  } catch {
    return undefined;
  }
}
