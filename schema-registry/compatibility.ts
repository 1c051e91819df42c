// JSON Schema compatibility checks for the registry, following the rules Confluent Schema Registry applies
// to JSON Schema (its SchemaDiff and Difference.Type), so that a subject evolves here exactly as it would
// there. Schemas are compared structurally, the way Confluent loads them: a schema object becomes one
// typed schema, or an allOf of its parts when it mixes a type with enum, const, not or combinators, and a
// `type` array becomes an anyOf of typed schemas. The "writer" is the schema data was written with (what
// Confluent calls the original), the "reader" the schema reading it (the update).

/** Compatibility levels, with Confluent's names and meanings. */
export type CompatibilityLevel =
  | "NONE"
  | "BACKWARD"
  | "BACKWARD_TRANSITIVE"
  | "FORWARD"
  | "FORWARD_TRANSITIVE"
  | "FULL"
  | "FULL_TRANSITIVE";

export const COMPATIBILITY_LEVELS: readonly CompatibilityLevel[] = [
  "NONE",
  "BACKWARD",
  "BACKWARD_TRANSITIVE",
  "FORWARD",
  "FORWARD_TRANSITIVE",
  "FULL",
  "FULL_TRANSITIVE",
];

/**
 * Which JSON Schema changes count as compatible. Confluent has the same setting (`compatibilityPolicy`
 * in `PUT /config`, sets `COMPATIBLE_CHANGES_STRICT` and `COMPATIBLE_CHANGES_LENIENT` in its
 * `SchemaDiff`).
 *
 * - `STRICT` (the default) treats the content model as part of the contract: a reader that adds a
 *   property to an open writer schema is refused, because old data may hold that property with another
 *   type.
 * - `LENIENT` is `STRICT` plus the changes that only matter for properties the writer did not declare,
 *   which makes JSON Schema evolve like Avro: `ADDITIONAL_PROPERTIES_NARROWED`,
 *   `ADDITIONAL_PROPERTIES_REMOVED`, `OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL`,
 *   `REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL`,
 *   `PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`,
 *   `PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL`, and by analogy
 *   `UNEVALUATED_PROPERTIES_NARROWED` / `UNEVALUATED_PROPERTIES_REMOVED`. A required property without a
 *   default added to an open model stays incompatible: old data need not have it.
 */
export type CompatibilityPolicy = "STRICT" | "LENIENT";

/** One difference between a writer schema and a reader schema. */
export interface SchemaChange {
  /** Confluent's `Difference.Type` name, e.g. `TYPE_NARROWED`. */
  kind: string;
  /** Where the change is, as Confluent reports it: `#/properties/amount`, `#/required/id`, `#/items/0`; `#/` is the root. */
  path: string;
  /** Whether this change alone keeps data written with the writer readable by the reader, under the policy. */
  compatible: boolean;
  message: string;
}

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

type BoundName =
  | "MAX_LENGTH"
  | "MIN_LENGTH"
  | "MAXIMUM"
  | "MINIMUM"
  | "EXCLUSIVE_MAXIMUM"
  | "EXCLUSIVE_MINIMUM"
  | "MAX_PROPERTIES"
  | "MIN_PROPERTIES"
  | "MAX_ITEMS"
  | "MIN_ITEMS"
  | "MAX_CONTAINS"
  | "MIN_CONTAINS";

type Kind =
  | "ID_CHANGED"
  | "DESCRIPTION_CHANGED"
  | "TITLE_CHANGED"
  | "DEFAULT_CHANGED"
  | "SCHEMA_ADDED"
  | "SCHEMA_REMOVED"
  | "TYPE_EXTENDED"
  | "TYPE_NARROWED"
  | "TYPE_CHANGED"
  | `${BoundName}_${"ADDED" | "REMOVED" | "INCREASED" | "DECREASED"}`
  | "PATTERN_ADDED"
  | "PATTERN_REMOVED"
  | "PATTERN_CHANGED"
  | "MULTIPLE_OF_ADDED"
  | "MULTIPLE_OF_REMOVED"
  | "MULTIPLE_OF_EXPANDED"
  | "MULTIPLE_OF_REDUCED"
  | "MULTIPLE_OF_CHANGED"
  | "REQUIRED_ATTRIBUTE_ADDED"
  | "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED"
  | "REQUIRED_ATTRIBUTE_REMOVED"
  | "ADDITIONAL_PROPERTIES_ADDED"
  | "ADDITIONAL_PROPERTIES_REMOVED"
  | "ADDITIONAL_PROPERTIES_EXTENDED"
  | "ADDITIONAL_PROPERTIES_NARROWED"
  | "UNEVALUATED_PROPERTIES_ADDED"
  | "UNEVALUATED_PROPERTIES_REMOVED"
  | "UNEVALUATED_PROPERTIES_EXTENDED"
  | "UNEVALUATED_PROPERTIES_NARROWED"
  | "DEPENDENCY_ARRAY_ADDED"
  | "DEPENDENCY_ARRAY_REMOVED"
  | "DEPENDENCY_ARRAY_EXTENDED"
  | "DEPENDENCY_ARRAY_NARROWED"
  | "DEPENDENCY_ARRAY_CHANGED"
  | "DEPENDENCY_SCHEMA_ADDED"
  | "DEPENDENCY_SCHEMA_REMOVED"
  | "REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
  | "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL"
  | "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL"
  | "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
  | "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
  | "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL"
  | "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL"
  | "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL"
  | "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL"
  | "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL"
  | "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
  | "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
  | "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
  | "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
  | "UNIQUE_ITEMS_ADDED"
  | "UNIQUE_ITEMS_REMOVED"
  | "ADDITIONAL_ITEMS_ADDED"
  | "ADDITIONAL_ITEMS_REMOVED"
  | "ADDITIONAL_ITEMS_EXTENDED"
  | "ADDITIONAL_ITEMS_NARROWED"
  | "UNEVALUATED_ITEMS_ADDED"
  | "UNEVALUATED_ITEMS_REMOVED"
  | "UNEVALUATED_ITEMS_EXTENDED"
  | "UNEVALUATED_ITEMS_NARROWED"
  | "ITEM_ADDED_TO_OPEN_CONTENT_MODEL"
  | "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL"
  | "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL"
  | "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL"
  | "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL"
  | "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL"
  | "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
  | "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
  | "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
  | "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL"
  | "ENUM_ARRAY_EXTENDED"
  | "ENUM_ARRAY_NARROWED"
  | "ENUM_ARRAY_CHANGED"
  | "COMBINED_TYPE_EXTENDED"
  | "COMBINED_TYPE_CHANGED"
  | "PRODUCT_TYPE_EXTENDED"
  | "PRODUCT_TYPE_NARROWED"
  | "SUM_TYPE_EXTENDED"
  | "SUM_TYPE_NARROWED"
  | "COMBINED_TYPE_SUBSCHEMAS_CHANGED"
  | "NOT_TYPE_EXTENDED"
  | "NOT_TYPE_NARROWED";

// Confluent's COMPATIBLE_CHANGES_STRICT. The *_CONTAINS and UNEVALUATED_* entries are ours: they loosen
// the reader exactly as their maxItems / additionalProperties counterparts do.
const STRICT_COMPATIBLE: ReadonlySet<Kind> = new Set<Kind>([
  "ID_CHANGED",
  "DESCRIPTION_CHANGED",
  "TITLE_CHANGED",
  "DEFAULT_CHANGED",
  "SCHEMA_REMOVED",
  "TYPE_EXTENDED",
  "MAX_LENGTH_INCREASED",
  "MAX_LENGTH_REMOVED",
  "MIN_LENGTH_DECREASED",
  "MIN_LENGTH_REMOVED",
  "PATTERN_REMOVED",
  "MAXIMUM_INCREASED",
  "MAXIMUM_REMOVED",
  "MINIMUM_DECREASED",
  "MINIMUM_REMOVED",
  "EXCLUSIVE_MAXIMUM_INCREASED",
  "EXCLUSIVE_MAXIMUM_REMOVED",
  "EXCLUSIVE_MINIMUM_DECREASED",
  "EXCLUSIVE_MINIMUM_REMOVED",
  "MULTIPLE_OF_REDUCED",
  "MULTIPLE_OF_REMOVED",
  "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED",
  "REQUIRED_ATTRIBUTE_REMOVED",
  "DEPENDENCY_ARRAY_NARROWED",
  "DEPENDENCY_ARRAY_REMOVED",
  "DEPENDENCY_SCHEMA_REMOVED",
  "MAX_PROPERTIES_INCREASED",
  "MAX_PROPERTIES_REMOVED",
  "MIN_PROPERTIES_DECREASED",
  "MIN_PROPERTIES_REMOVED",
  "ADDITIONAL_PROPERTIES_ADDED",
  "ADDITIONAL_PROPERTIES_EXTENDED",
  "UNEVALUATED_PROPERTIES_ADDED",
  "UNEVALUATED_PROPERTIES_EXTENDED",
  "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
  "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL",
  "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
  "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
  "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL",
  "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
  "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
  "MAX_ITEMS_INCREASED",
  "MAX_ITEMS_REMOVED",
  "MIN_ITEMS_DECREASED",
  "MIN_ITEMS_REMOVED",
  "MAX_CONTAINS_INCREASED",
  "MAX_CONTAINS_REMOVED",
  "MIN_CONTAINS_DECREASED",
  "MIN_CONTAINS_REMOVED",
  "UNIQUE_ITEMS_REMOVED",
  "ADDITIONAL_ITEMS_ADDED",
  "ADDITIONAL_ITEMS_EXTENDED",
  "UNEVALUATED_ITEMS_ADDED",
  "UNEVALUATED_ITEMS_EXTENDED",
  "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL",
  "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL",
  "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL",
  "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL",
  "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
  "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
  "ENUM_ARRAY_EXTENDED",
  "COMBINED_TYPE_EXTENDED",
  "PRODUCT_TYPE_NARROWED",
  "SUM_TYPE_EXTENDED",
  "NOT_TYPE_NARROWED",
]);

const LENIENT_COMPATIBLE: ReadonlySet<Kind> = new Set<Kind>([
  ...STRICT_COMPATIBLE,
  "ADDITIONAL_PROPERTIES_NARROWED",
  "ADDITIONAL_PROPERTIES_REMOVED",
  "UNEVALUATED_PROPERTIES_NARROWED",
  "UNEVALUATED_PROPERTIES_REMOVED",
  "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
  "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL",
  "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
  "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
]);

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

/**
 * Checks a candidate schema against a subject's registered versions (oldest first) under a compatibility
 * level, and returns one message per incompatibility; `[]` means compatible. Non-transitive levels check
 * the latest version only. BACKWARD reads old data with the candidate, FORWARD reads the candidate's data
 * with old versions, FULL does both.
 *
 * @example
 * checkCompatibility(
 *   "BACKWARD",
 *   { type: "object", properties: { amount: { type: "integer" } } },
 *   [{ version: 2, schema: { type: "object", properties: { amount: { type: "number" } } } }],
 * );
 * // ['TYPE_NARROWED at #/properties/amount: type narrowed from ["number"] to ["integer"] (reading data written with version 2)']
 */
export function checkCompatibility(
  level: CompatibilityLevel,
  candidate: unknown,
  previous: readonly { version: number; schema: unknown }[],
  options: CompatibilityOptions = {},
): string[] {
  if (level === "NONE" || previous.length === 0) return [];
  const newestFirst = [...previous].sort((a, b) => b.version - a.version);
  const against = level.endsWith("_TRANSITIVE") ? newestFirst : newestFirst.slice(0, 1);
  const backward = level.startsWith("BACKWARD") || level.startsWith("FULL");
  const forward = level.startsWith("FORWARD") || level.startsWith("FULL");
  const messages = new Set<string>();
  const report = (changes: SchemaChange[], direction: string) => {
    for (const c of changes) if (!c.compatible) messages.add(`${c.kind} at ${c.path}: ${c.message} (${direction})`);
  };
  for (const { version, schema } of against) {
    if (backward) report(diffJsonSchemas(schema, candidate, options), `reading data written with version ${version}`);
    if (forward) report(diffJsonSchemas(candidate, schema, options), `version ${version} reading data written with the new schema`);
  }
  return [...messages];
}

interface Annotations {
  readonly id?: unknown;
  readonly title?: unknown;
  readonly description?: unknown;
  readonly default?: unknown;
  readonly hasDefault: boolean;
}

/** additionalProperties / additionalItems: absent, true or {} permit anything; a schema constrains extras. */
interface Extras {
  readonly present: boolean;
  readonly permits: boolean;
  readonly schema?: Node;
}

interface StringNode {
  readonly kind: "string";
  readonly ann: Annotations;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
}

interface NumberNode {
  readonly kind: "number";
  readonly ann: Annotations;
  readonly integer: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly multipleOf?: number;
}

interface ObjectNode {
  readonly kind: "object";
  readonly ann: Annotations;
  readonly properties: ReadonlyMap<string, Node>;
  readonly required: ReadonlySet<string>;
  readonly patternProperties: readonly { readonly test: (name: string) => boolean; readonly schema: Node }[];
  readonly additional: Extras;
  readonly unevaluated?: Node;
  readonly dependencyArrays: ReadonlyMap<string, { readonly keyword: string; readonly names: readonly string[] }>;
  readonly dependencySchemas: ReadonlyMap<string, { readonly keyword: string; readonly schema: Node }>;
  readonly minProperties?: number;
  readonly maxProperties?: number;
}

interface ArrayNode {
  readonly kind: "array";
  readonly ann: Annotations;
  readonly items?: Node;
  readonly tuple: readonly Node[];
  readonly additional: Extras;
  readonly unevaluated?: Node;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly uniqueItems: boolean;
  readonly minContains?: number;
  readonly maxContains?: number;
}

interface CombinedNode {
  readonly kind: "combined";
  readonly ann: Annotations;
  readonly criterion: "allOf" | "anyOf" | "oneOf";
  readonly subs: readonly Node[];
  /** The subschemas as written, to drop duplicates; absent when we built the combination ourselves. */
  readonly raws?: readonly unknown[];
}

interface RefNode {
  readonly kind: "ref";
  readonly ann: Annotations;
  readonly ref: string;
  readonly doc: Doc;
  target?: Node;
}

type Node =
  | { readonly kind: "empty" | "false" | "null" | "boolean" | "conditional"; readonly ann: Annotations }
  | StringNode
  | NumberNode
  | ObjectNode
  | ArrayNode
  | CombinedNode
  | { readonly kind: "enum"; readonly ann: Annotations; readonly values: readonly unknown[] }
  | { readonly kind: "const"; readonly ann: Annotations; readonly value: unknown }
  | { readonly kind: "not"; readonly ann: Annotations; readonly sub: Node }
  | { readonly kind: "opaque"; readonly ann: Annotations; readonly value: unknown; readonly label: string }
  | RefNode;

interface Doc {
  readonly root: unknown;
  /** 2019-09 / 2020-12: `$ref` siblings apply. Draft-07 and older ignore them. */
  readonly modern: boolean;
  readonly base?: string;
  readonly ids: Map<string, unknown>;
  readonly anchors: Map<string, unknown>;
  readonly nodes: WeakMap<object, Node>;
}

const NO_ANNOTATIONS: Annotations = { hasDefault: false };
const EMPTY: Node = { kind: "empty", ann: NO_ANNOTATIONS };
const FALSE: Node = { kind: "false", ann: NO_ANNOTATIONS };

const OBJECT_KEYWORDS = [
  "properties",
  "patternProperties",
  "additionalProperties",
  "required",
  "minProperties",
  "maxProperties",
  "dependencies",
  "dependentRequired",
  "dependentSchemas",
  "propertyNames",
  "unevaluatedProperties",
];
const ARRAY_KEYWORDS = [
  "items",
  "prefixItems",
  "additionalItems",
  "minItems",
  "maxItems",
  "uniqueItems",
  "contains",
  "minContains",
  "maxContains",
  "unevaluatedItems",
];
const STRING_KEYWORDS = ["minLength", "maxLength", "pattern", "format"];
const NUMBER_KEYWORDS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"];
// Values under these keywords are data, not schemas: an "$id" inside them names nothing.
const DATA_KEYWORDS = new Set(["enum", "const", "default", "examples"]);

/** Turns parsed JSON schemas into nodes, resolving `$ref` lazily so recursive schemas stay finite. */
class Loader {
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
    const node = this.build(doc, raw);
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

  private build(doc: Doc, raw: Record<string, unknown>): Node {
    const ann = annotationsOf(raw);
    if (typeof raw.$ref === "string") {
      const ref: RefNode = { kind: "ref", ann: { hasDefault: "default" in raw }, ref: raw.$ref, doc };
      if (!doc.modern) return ref;
      const rest: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(raw)) if (k !== "$ref") rest[k] = v;
      const siblings = this.build(doc, rest);
      return siblings.kind === "empty" ? ref : { kind: "combined", ann, criterion: "allOf", subs: [ref, siblings] };
    }

    const parts: Node[] = [];
    for (const criterion of ["allOf", "anyOf", "oneOf"] as const) {
      const subs = raw[criterion];
      if (Array.isArray(subs)) {
        parts.push({ kind: "combined", ann: NO_ANNOTATIONS, criterion, subs: subs.map((s) => this.load(doc, s)), raws: subs });
      }
    }
    if ("not" in raw) parts.push({ kind: "not", ann: NO_ANNOTATIONS, sub: this.load(doc, raw.not) });
    if (Array.isArray(raw.enum)) parts.push({ kind: "enum", ann: NO_ANNOTATIONS, values: raw.enum });
    if ("const" in raw) parts.push({ kind: "const", ann: NO_ANNOTATIONS, value: raw.const });
    if ("if" in raw) parts.push({ kind: "conditional", ann: NO_ANNOTATIONS });

    const declared = typeof raw.type === "string" ? [raw.type] : Array.isArray(raw.type) ? raw.type.filter(isString) : undefined;
    if (declared) {
      const typed = [...new Set(declared)].map((t) => this.typed(doc, raw, t));
      if (typed.length === 1 && typed[0]) parts.push(typed[0]);
      else if (typed.length > 1) parts.push({ kind: "combined", ann: NO_ANNOTATIONS, criterion: "anyOf", subs: typed });
    } else {
      // Without "type", each family of keywords constrains only values of its own type, as in Confluent.
      if (OBJECT_KEYWORDS.some((k) => k in raw)) parts.push(this.typed(doc, raw, "object"));
      if (ARRAY_KEYWORDS.some((k) => k in raw)) parts.push(this.typed(doc, raw, "array"));
      if (STRING_KEYWORDS.some((k) => k in raw)) parts.push(this.typed(doc, raw, "string"));
      if (NUMBER_KEYWORDS.some((k) => k in raw)) parts.push(this.typed(doc, raw, "number"));
    }

    const [only] = parts;
    if (!only) return { kind: "empty", ann };
    if (parts.length === 1) return { ...only, ann };
    return { kind: "combined", ann, criterion: "allOf", subs: parts };
  }

  private typed(doc: Doc, raw: Record<string, unknown>, type: string): Node {
    switch (type) {
      case "string":
        return { kind: "string", ann: NO_ANNOTATIONS, minLength: num(raw.minLength), maxLength: num(raw.maxLength), pattern: str(raw.pattern) };
      case "number":
      case "integer": {
        // Draft-04 spells an exclusive bound as a boolean beside minimum/maximum.
        const exMaxFlag = raw.exclusiveMaximum === true && num(raw.maximum) !== undefined;
        const exMinFlag = raw.exclusiveMinimum === true && num(raw.minimum) !== undefined;
        return {
          kind: "number",
          ann: NO_ANNOTATIONS,
          integer: type === "integer",
          maximum: exMaxFlag ? undefined : num(raw.maximum),
          minimum: exMinFlag ? undefined : num(raw.minimum),
          exclusiveMaximum: exMaxFlag ? num(raw.maximum) : num(raw.exclusiveMaximum),
          exclusiveMinimum: exMinFlag ? num(raw.minimum) : num(raw.exclusiveMinimum),
          multipleOf: num(raw.multipleOf),
        };
      }
      case "object":
        return this.object(doc, raw);
      case "array":
        return this.array(doc, raw);
      case "null":
      case "boolean":
        return { kind: type, ann: NO_ANNOTATIONS };
      default:
        return EMPTY;
    }
  }

  private object(doc: Doc, raw: Record<string, unknown>): ObjectNode {
    const properties = new Map<string, Node>();
    if (isRecord(raw.properties)) for (const [name, s] of Object.entries(raw.properties)) properties.set(name, this.load(doc, s));
    const patternProperties: { test: (name: string) => boolean; schema: Node }[] = [];
    if (isRecord(raw.patternProperties)) {
      for (const [pattern, s] of Object.entries(raw.patternProperties)) patternProperties.push({ test: matcher(pattern), schema: this.load(doc, s) });
    }
    const dependencyArrays = new Map<string, { keyword: string; names: string[] }>();
    const dependencySchemas = new Map<string, { keyword: string; schema: Node }>();
    for (const keyword of ["dependencies", "dependentRequired", "dependentSchemas"]) {
      const deps = raw[keyword];
      if (!isRecord(deps)) continue;
      for (const [name, dep] of Object.entries(deps)) {
        if (Array.isArray(dep)) dependencyArrays.set(name, { keyword, names: dep.filter(isString) });
        else dependencySchemas.set(name, { keyword, schema: this.load(doc, dep) });
      }
    }
    return {
      kind: "object",
      ann: NO_ANNOTATIONS,
      properties,
      required: new Set(Array.isArray(raw.required) ? raw.required.filter(isString) : []),
      patternProperties,
      additional: this.extras(doc, raw.additionalProperties),
      unevaluated: raw.unevaluatedProperties === undefined ? undefined : this.load(doc, raw.unevaluatedProperties),
      dependencyArrays,
      dependencySchemas,
      minProperties: num(raw.minProperties),
      maxProperties: num(raw.maxProperties),
    };
  }

  private array(doc: Doc, raw: Record<string, unknown>): ArrayNode {
    let items: Node | undefined;
    let tuple: Node[] = [];
    let additional: Extras;
    if (Array.isArray(raw.prefixItems)) {
      tuple = raw.prefixItems.map((s) => this.load(doc, s));
      additional = this.extras(doc, raw.items);
    } else if (Array.isArray(raw.items)) {
      tuple = raw.items.map((s) => this.load(doc, s));
      additional = this.extras(doc, raw.additionalItems);
    } else if (typeof raw.items === "boolean") {
      // `items: false` with no tuple allows only the empty array; Confluent reports it as additionalItems.
      additional = this.extras(doc, raw.items);
    } else {
      const all = raw.items === undefined ? undefined : this.load(doc, raw.items);
      items = all?.kind === "empty" ? undefined : all;
      additional = this.extras(doc, raw.additionalItems);
    }
    return {
      kind: "array",
      ann: NO_ANNOTATIONS,
      items,
      tuple,
      additional,
      unevaluated: raw.unevaluatedItems === undefined ? undefined : this.load(doc, raw.unevaluatedItems),
      minItems: num(raw.minItems),
      maxItems: num(raw.maxItems),
      uniqueItems: raw.uniqueItems === true,
      minContains: num(raw.minContains),
      maxContains: num(raw.maxContains),
    };
  }

  private extras(doc: Doc, raw: unknown): Extras {
    if (raw === undefined) return { present: false, permits: true };
    const schema = this.load(doc, raw);
    if (schema.kind === "empty") return { present: true, permits: true };
    if (schema.kind === "false") return { present: true, permits: false };
    return { present: true, permits: true, schema };
  }
}

interface Change {
  readonly kind: Kind;
  /** JSON pointer relative to the pair being compared; "" is the pair itself. */
  readonly path: string;
  readonly message: string;
}

const change = (kind: Kind, path: string, message: string): Change => ({ kind, path, message });
const under = (prefix: string, changes: readonly Change[]): Change[] => changes.map((c) => ({ ...c, path: prefix + c.path }));

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
class Differ {
  private memo = new Map<Node, Map<Node, Change[]>>();
  private active = new Map<Node, Set<Node>>();
  /** Pairs met again while being compared, and taken as compatible for this round. */
  private assumed = new Map<Node, Set<Node>>();
  private readonly incompatiblePairs = new Map<Node, Map<Node, Change>>();

  constructor(
    private readonly loader: Loader,
    private readonly compatibleKinds: ReadonlySet<Kind>,
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

  private ok(changes: readonly Change[]): boolean {
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

  private compare(writer: Node | undefined, reader: Node | undefined): Change[] {
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
      const found = this.intoCombined(w, r);
      if (found) return found;
    } else if (w.kind === "combined" && r.kind !== "combined") {
      const found = this.outOfCombined(w, r);
      if (found) return found;
    }
    if (w.kind !== r.kind) {
      // Nothing was written with `false`, and the empty schema reads anything.
      if (w.kind === "false" || r.kind === "empty") return [];
      return [change("TYPE_CHANGED", "", `type changed from ${describe(w)} to ${describe(r)}`)];
    }
    const out = annotationChanges(w.ann, r.ann);
    if (w.kind === "string" && r.kind === "string") out.push(...this.strings(w, r));
    else if (w.kind === "number" && r.kind === "number") out.push(...this.numbers(w, r));
    else if (w.kind === "object" && r.kind === "object") out.push(...this.objects(w, r));
    else if (w.kind === "array" && r.kind === "array") out.push(...this.arrays(w, r));
    else if (w.kind === "combined" && r.kind === "combined") out.push(...this.combined(w, r));
    else if (w.kind === "enum" && r.kind === "enum") out.push(...enums(w.values, r.values));
    else if (w.kind === "const" && r.kind === "const") {
      if (!deepEqual(w.value, r.value)) {
        out.push(change("ENUM_ARRAY_CHANGED", "/const", `const changed from ${JSON.stringify(w.value)} to ${JSON.stringify(r.value)}`));
      }
    } else if (w.kind === "not" && r.kind === "not") {
      // The reader's excluded values must all have been excluded by the writer: compare the other way round.
      const reversed = this.compare(r.sub, w.sub);
      out.push(
        this.ok(reversed)
          ? change("NOT_TYPE_NARROWED", "/not", "the reader excludes fewer values")
          : change("NOT_TYPE_EXTENDED", "/not", "the reader excludes values the writer allowed"),
      );
    } else if (w.kind === "opaque" && r.kind === "opaque") {
      if (!deepEqual(w.value, r.value)) out.push(change("TYPE_CHANGED", "", `${w.label} changed to ${r.label}`));
    }
    // if/then/else is not compared, as in Confluent; null, boolean, empty and false have nothing to compare.
    return out;
  }

  /** A plain writer against a reader union: fine when the writer fits one of the reader's alternatives. */
  private intoCombined(w: Node, r: CombinedNode): Change[] | undefined {
    const [only] = r.subs;
    if (only && r.subs.length === 1) {
      const changes = this.compare(w, only);
      return this.ok(changes) ? changes : undefined;
    }
    if (r.criterion === "allOf") return undefined;
    for (const sub of r.subs) {
      const changes = this.compare(w, sub);
      if (this.ok(changes)) {
        return [...changes, change("SUM_TYPE_EXTENDED", "", `${describe(w)} became one of ${r.subs.length} alternatives (${r.criterion})`)];
      }
    }
    return undefined;
  }

  /** A writer allOf against a plain reader: fine when one of the writer's conjuncts already satisfies the reader. */
  private outOfCombined(w: CombinedNode, r: Node): Change[] | undefined {
    const [only] = w.subs;
    if (only && w.subs.length === 1) {
      const changes = this.compare(only, r);
      if (this.ok(changes)) return changes;
    }
    if (w.criterion !== "allOf") return undefined;
    for (const sub of w.subs) {
      const changes = this.compare(sub, r);
      if (this.ok(changes)) return [...changes, change("PRODUCT_TYPE_NARROWED", "", `the reader keeps only part of the writer's allOf (${describe(r)})`)];
    }
    return undefined;
  }

  private strings(w: StringNode, r: StringNode): Change[] {
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

  private numbers(w: NumberNode, r: NumberNode): Change[] {
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

  private objects(w: ObjectNode, r: ObjectNode): Change[] {
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
          this.hasDefault(reading)
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
      if (written && reading) out.push(...under(at, this.compare(written, reading)));
      else if (written) out.push(...this.propertyRemoved(name, at, written, r));
      else if (reading) out.push(...this.propertyAdded(name, at, reading, w, r));
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
      else out.push(...under(at, this.compare(was.schema, is.schema)));
    }

    out.push(...this.extrasChanges("/additionalProperties", "ADDITIONAL_PROPERTIES", "additional properties", w.additional, r.additional));
    out.push(...this.unevaluatedChanges("/unevaluatedProperties", "UNEVALUATED_PROPERTIES", "unevaluated properties", w.unevaluated, r.unevaluated));
    bound(out, "maxProperties", "MAX_PROPERTIES", w.maxProperties, r.maxProperties);
    bound(out, "minProperties", "MIN_PROPERTIES", w.minProperties, r.minProperties);
    return out;
  }

  /** The writer declared a property the reader does not: only the reader's content model decides. */
  private propertyRemoved(name: string, at: string, written: Node, r: ObjectNode): Change[] {
    if (objectIsOpen(r)) return [change("PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", at, `property "${name}" removed; the reader's open content model accepts it`)];
    const covering = objectPartialSchema(r, name);
    if (covering) {
      const sub = under(at, this.compare(written, covering));
      return this.ok(sub)
        ? [...sub, change("PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `property "${name}" removed; still accepted as an additional property`)]
        : [...sub, change("PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `property "${name}" removed and the reader's additional-property schema does not accept what was written`)];
    }
    if (this.loader.deref(written).kind === "false") {
      return [change("PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", at, `property "${name}", which was never allowed, removed`)];
    }
    return [change("PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", at, `property "${name}" removed from a closed content model that rejects it`)];
  }

  /** The reader declares a property the writer did not: only the writer's content model decides. */
  private propertyAdded(name: string, at: string, reading: Node, w: ObjectNode, r: ObjectNode): Change[] {
    const required = r.required.has(name);
    const withDefault = required && this.hasDefault(reading);
    if (objectIsOpen(w)) {
      if (this.loader.deref(reading).kind === "empty") {
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
      const sub = under(at, this.compare(covering, reading));
      out.push(...sub);
      out.push(
        this.ok(sub)
          ? change("PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `property "${name}" added; the writer's additional-property schema fits it`)
          : change("PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `property "${name}" added; the writer's additional-property schema does not fit it`),
      );
    }
    if (!required) out.push(change("OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", at, `optional property "${name}" added`));
    else if (withDefault) out.push(change("REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL", at, `required property "${name}" added with a default`));
    else out.push(change("REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", at, `required property "${name}" added without a default`));
    return out;
  }

  private arrays(w: ArrayNode, r: ArrayNode): Change[] {
    const out: Change[] = [];
    out.push(...under("/items", this.compare(w.items, r.items)));

    const shared = Math.min(w.tuple.length, r.tuple.length);
    for (let i = 0; i < Math.max(w.tuple.length, r.tuple.length); i++) {
      const at = `/items/${i}`;
      const written = w.tuple[i];
      const reading = r.tuple[i];
      if (i < shared) out.push(...under(at, this.compare(written, reading)));
      else if (written) out.push(...this.itemRemoved(i, at, written, r));
      else if (reading) out.push(...this.itemAdded(i, at, reading, w));
    }

    out.push(...this.extrasChanges("/additionalItems", "ADDITIONAL_ITEMS", "additional items", w.additional, r.additional));
    out.push(...this.unevaluatedChanges("/unevaluatedItems", "UNEVALUATED_ITEMS", "unevaluated items", w.unevaluated, r.unevaluated));
    bound(out, "maxItems", "MAX_ITEMS", w.maxItems, r.maxItems);
    bound(out, "minItems", "MIN_ITEMS", w.minItems, r.minItems);
    if (w.uniqueItems && !r.uniqueItems) out.push(change("UNIQUE_ITEMS_REMOVED", "/uniqueItems", "items no longer need to be unique"));
    else if (!w.uniqueItems && r.uniqueItems) out.push(change("UNIQUE_ITEMS_ADDED", "/uniqueItems", "items must now be unique"));
    bound(out, "maxContains", "MAX_CONTAINS", w.maxContains, r.maxContains);
    bound(out, "minContains", "MIN_CONTAINS", w.minContains, r.minContains);
    return out;
  }

  private itemRemoved(i: number, at: string, written: Node, r: ArrayNode): Change[] {
    if (arrayIsOpen(r)) return [change("ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", at, `tuple item ${i} removed; the reader accepts any further items`)];
    const covering = arrayPartialSchema(r);
    if (covering) {
      const sub = under(at, this.compare(written, covering));
      return this.ok(sub)
        ? [...sub, change("ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `tuple item ${i} removed; still accepted as an additional item`)]
        : [...sub, change("ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `tuple item ${i} removed and the reader's additional-item schema does not accept what was written`)];
    }
    if (this.loader.deref(written).kind === "false") {
      return [change("ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", at, `tuple item ${i}, which was never allowed, removed`)];
    }
    return [change("ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", at, `tuple item ${i} removed from a closed tuple that rejects it`)];
  }

  private itemAdded(i: number, at: string, reading: Node, w: ArrayNode): Change[] {
    if (arrayIsOpen(w)) {
      return this.loader.deref(reading).kind === "empty"
        ? [change("ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", at, `tuple item ${i} added with an empty schema`)]
        : [change("ITEM_ADDED_TO_OPEN_CONTENT_MODEL", at, `tuple item ${i} added; the writer's open tuple may already have written anything there`)];
    }
    const covering = arrayPartialSchema(w);
    if (!covering) return [change("ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", at, `tuple item ${i} added to a closed tuple`)];
    const sub = under(at, this.compare(covering, reading));
    return this.ok(sub)
      ? [...sub, change("ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `tuple item ${i} added; the writer's additional-item schema fits it`)]
      : [...sub, change("ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", at, `tuple item ${i} added; the writer's additional-item schema does not fit it`)];
  }

  private extrasChanges(
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

  private unevaluatedChanges(
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

  private combined(w: CombinedNode, r: CombinedNode): Change[] {
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
        const changes = under(a.path, this.compare(a.node, b.node));
        return this.ok(changes) ? changes : undefined;
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
        const j = rs.findIndex((b, k) => !usedR.has(k) && this.loader.deref(b.node).kind === this.loader.deref(a.node).kind);
        const b = rs[j];
        if (!b) continue;
        usedR.add(j);
        out.push(...under(a.path, this.compare(a.node, b.node)).filter((c) => !this.compatibleKinds.has(c.kind)));
      }
      out.push(change("COMBINED_TYPE_SUBSCHEMAS_CHANGED", "", `no compatible pairing of the ${w.criterion} subschemas: ${describe(w)} vs ${describe(r)}`));
    }
    return out;
  }

  private hasDefault(node: Node): boolean {
    return node.ann.hasDefault || this.loader.deref(node).ann.hasDefault;
  }
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

function enums(w: readonly unknown[], r: readonly unknown[]): Change[] {
  const added = r.filter((v) => !w.some((x) => deepEqual(x, v)));
  const removed = w.filter((v) => !r.some((x) => deepEqual(x, v)));
  if (added.length === 0 && removed.length === 0) return [];
  if (removed.length === 0) return [change("ENUM_ARRAY_EXTENDED", "/enum", `enum extended with ${JSON.stringify(added)}`)];
  if (added.length === 0) return [change("ENUM_ARRAY_NARROWED", "/enum", `enum narrowed: ${JSON.stringify(removed)} removed`)];
  return [change("ENUM_ARRAY_CHANGED", "/enum", `enum changed: ${JSON.stringify(removed)} removed, ${JSON.stringify(added)} added`)];
}

function annotationChanges(w: Annotations, r: Annotations): Change[] {
  const out: Change[] = [];
  if (!deepEqual(w.id, r.id)) out.push(change("ID_CHANGED", "", `id changed from ${JSON.stringify(w.id)} to ${JSON.stringify(r.id)}`));
  if (!deepEqual(w.title, r.title)) out.push(change("TITLE_CHANGED", "", `title changed from ${JSON.stringify(w.title)} to ${JSON.stringify(r.title)}`));
  if (!deepEqual(w.description, r.description)) out.push(change("DESCRIPTION_CHANGED", "", "description changed"));
  if (!deepEqual(w.default, r.default)) out.push(change("DEFAULT_CHANGED", "", `default changed from ${JSON.stringify(w.default)} to ${JSON.stringify(r.default)}`));
  return out;
}

function bound(out: Change[], keyword: string, name: BoundName, w: number | undefined, r: number | undefined): void {
  if (w === r) return;
  const at = `/${keyword}`;
  if (w === undefined) out.push(change(`${name}_ADDED`, at, `${keyword} ${r} added`));
  else if (r === undefined) out.push(change(`${name}_REMOVED`, at, `${keyword} ${w} removed`));
  else if (w < r) out.push(change(`${name}_INCREASED`, at, `${keyword} increased from ${w} to ${r}`));
  else out.push(change(`${name}_DECREASED`, at, `${keyword} decreased from ${w} to ${r}`));
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

function arrayIsOpen(a: ArrayNode): boolean {
  return a.additional.permits && !a.additional.schema && (!a.unevaluated || a.unevaluated.kind === "empty");
}

function arrayPartialSchema(a: ArrayNode): Node | undefined {
  if (a.additional.schema) return a.additional.schema;
  if (!a.additional.present && a.unevaluated && a.unevaluated.kind !== "empty" && a.unevaluated.kind !== "false") return a.unevaluated;
  return undefined;
}

function typeNames(node: Node): string[] | undefined {
  switch (node.kind) {
    case "string":
    case "object":
    case "array":
    case "null":
    case "boolean":
      return [node.kind];
    case "number":
      return [node.integer ? "integer" : "number"];
    case "combined":
      if (node.raws || node.criterion !== "anyOf") return undefined;
      return node.subs.every((s) => typeNames(s)?.length === 1) ? node.subs.flatMap((s) => typeNames(s) ?? []) : undefined;
    default:
      return undefined;
  }
}

function describe(node: Node): string {
  const types = typeNames(node);
  if (types) return JSON.stringify(types);
  switch (node.kind) {
    case "combined":
      return node.raws ? `${node.criterion} of ${node.subs.length} schemas` : `allOf of ${node.subs.length} constraints`;
    case "empty":
      return "any value (empty schema)";
    case "false":
      return "no value (false schema)";
    case "enum":
      return `enum ${JSON.stringify(node.values)}`;
    case "const":
      return `const ${JSON.stringify(node.value)}`;
    case "not":
      return "a not-schema";
    case "conditional":
      return "an if/then/else schema";
    case "opaque":
      return node.label;
    default:
      return `a reference to ${JSON.stringify((node as RefNode).ref)}`;
  }
}

function opaqueRef(ref: string): Node {
  return { kind: "opaque", ann: NO_ANNOTATIONS, value: ref, label: `the unresolved reference ${JSON.stringify(ref)}` };
}

function annotationsOf(raw: Record<string, unknown>): Annotations {
  return { id: idOf(raw), title: raw.title, description: raw.description, default: raw.default, hasDefault: "default" in raw };
}

function idOf(raw: Record<string, unknown>): string | undefined {
  return str(raw.$id) ?? str(raw.id);
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

function escapePointer(name: string): string {
  return name.replace(/~/g, "~0").replace(/\//g, "~1");
}

function resolveUrl(ref: string, base: string | undefined): string | undefined {
  try {
    return new URL(ref, base).href;
  } catch {
    return undefined;
  }
}

function matcher(pattern: string): (name: string) => boolean {
  let re: RegExp | undefined;
  try {
    re = new RegExp(pattern, "u");
  } catch {
    try {
      re = new RegExp(pattern);
    } catch {
      re = undefined;
    }
  }
  return (name) => re?.test(name) ?? false;
}

function isMultiple(value: number, of: number): boolean {
  if (of === 0) return false;
  const q = value / of;
  return Math.abs(q - Math.round(q)) < 1e-9;
}

function unionKeys<K>(a: ReadonlyMap<K, unknown>, b: ReadonlyMap<K, unknown>): K[] {
  return [...a.keys(), ...[...b.keys()].filter((k) => !a.has(k))];
}

function getOrCreate<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isString(v: unknown): v is string {
  return typeof v === "string";
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}
