import type { Doc, Loader } from "./refs.ts";

export interface Annotations {
  readonly id?: unknown;
  readonly title?: unknown;
  readonly description?: unknown;
  readonly default?: unknown;
  readonly hasDefault: boolean;
}

/** additionalProperties / additionalItems: absent, true or {} permit anything; a schema constrains extras. */
export interface Extras {
  readonly present: boolean;
  readonly permits: boolean;
  readonly schema?: Node;
}

export interface StringNode {
  readonly kind: "string";
  readonly ann: Annotations;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
}

export interface NumberNode {
  readonly kind: "number";
  readonly ann: Annotations;
  readonly integer: boolean;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly multipleOf?: number;
}

export interface ObjectNode {
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

export interface ArrayNode {
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

export interface CombinedNode {
  readonly kind: "combined";
  readonly ann: Annotations;
  readonly criterion: "allOf" | "anyOf" | "oneOf";
  readonly subs: readonly Node[];
  /** The subschemas as written, to drop duplicates; absent when we built the combination ourselves. */
  readonly raws?: readonly unknown[];
}

export interface RefNode {
  readonly kind: "ref";
  readonly ann: Annotations;
  readonly ref: string;
  readonly doc: Doc;
  target?: Node;
}

export type Node =
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

export const NO_ANNOTATIONS: Annotations = { hasDefault: false };
export const EMPTY: Node = { kind: "empty", ann: NO_ANNOTATIONS };
export const FALSE: Node = { kind: "false", ann: NO_ANNOTATIONS };

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

export function build(loader: Loader, doc: Doc, raw: Record<string, unknown>): Node {
  const ann = annotationsOf(raw);
  if (typeof raw.$ref === "string") {
    const ref: RefNode = { kind: "ref", ann: { hasDefault: "default" in raw }, ref: raw.$ref, doc };
    if (!doc.modern) return ref;
    const rest: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) if (k !== "$ref") rest[k] = v;
    const siblings = build(loader, doc, rest);
    return siblings.kind === "empty" ? ref : { kind: "combined", ann, criterion: "allOf", subs: [ref, siblings] };
  }

  const parts: Node[] = [];
  for (const criterion of ["allOf", "anyOf", "oneOf"] as const) {
    const subs = raw[criterion];
    if (Array.isArray(subs)) {
      parts.push({ kind: "combined", ann: NO_ANNOTATIONS, criterion, subs: subs.map((s) => loader.load(doc, s)), raws: subs });
    }
  }
  if ("not" in raw) parts.push({ kind: "not", ann: NO_ANNOTATIONS, sub: loader.load(doc, raw.not) });
  if (Array.isArray(raw.enum)) parts.push({ kind: "enum", ann: NO_ANNOTATIONS, values: raw.enum });
  if ("const" in raw) parts.push({ kind: "const", ann: NO_ANNOTATIONS, value: raw.const });
  if ("if" in raw) parts.push({ kind: "conditional", ann: NO_ANNOTATIONS });

  const declared = typeof raw.type === "string" ? [raw.type] : Array.isArray(raw.type) ? raw.type.filter(isString) : undefined;
  if (declared) {
    const typed = [...new Set(declared)].map((t) => typedNode(loader, doc, raw, t));
    if (typed.length === 1 && typed[0]) parts.push(typed[0]);
    else if (typed.length > 1) parts.push({ kind: "combined", ann: NO_ANNOTATIONS, criterion: "anyOf", subs: typed });
  } else {
    // Without "type", each family of keywords constrains only values of its own type, as in Confluent.
    if (OBJECT_KEYWORDS.some((k) => k in raw)) parts.push(typedNode(loader, doc, raw, "object"));
    if (ARRAY_KEYWORDS.some((k) => k in raw)) parts.push(typedNode(loader, doc, raw, "array"));
    if (STRING_KEYWORDS.some((k) => k in raw)) parts.push(typedNode(loader, doc, raw, "string"));
    if (NUMBER_KEYWORDS.some((k) => k in raw)) parts.push(typedNode(loader, doc, raw, "number"));
  }

  const [only] = parts;
  if (!only) return { kind: "empty", ann };
  if (parts.length === 1) return { ...only, ann };
  return { kind: "combined", ann, criterion: "allOf", subs: parts };
}

function typedNode(loader: Loader, doc: Doc, raw: Record<string, unknown>, type: string): Node {
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
      return objectNode(loader, doc, raw);
    case "array":
      return arrayNode(loader, doc, raw);
    case "null":
    case "boolean":
      return { kind: type, ann: NO_ANNOTATIONS };
    default:
      return EMPTY;
  }
}

function objectNode(loader: Loader, doc: Doc, raw: Record<string, unknown>): ObjectNode {
  const properties = new Map<string, Node>();
  if (isRecord(raw.properties)) for (const [name, s] of Object.entries(raw.properties)) properties.set(name, loader.load(doc, s));
  const patternProperties: { test: (name: string) => boolean; schema: Node }[] = [];
  if (isRecord(raw.patternProperties)) {
    for (const [pattern, s] of Object.entries(raw.patternProperties)) patternProperties.push({ test: matcher(pattern), schema: loader.load(doc, s) });
  }
  const dependencyArrays = new Map<string, { keyword: string; names: string[] }>();
  const dependencySchemas = new Map<string, { keyword: string; schema: Node }>();
  for (const keyword of ["dependencies", "dependentRequired", "dependentSchemas"]) {
    const deps = raw[keyword];
    if (!isRecord(deps)) continue;
    for (const [name, dep] of Object.entries(deps)) {
      if (Array.isArray(dep)) dependencyArrays.set(name, { keyword, names: dep.filter(isString) });
      else dependencySchemas.set(name, { keyword, schema: loader.load(doc, dep) });
    }
  }
  return {
    kind: "object",
    ann: NO_ANNOTATIONS,
    properties,
    required: new Set(Array.isArray(raw.required) ? raw.required.filter(isString) : []),
    patternProperties,
    additional: extras(loader, doc, raw.additionalProperties),
    unevaluated: raw.unevaluatedProperties === undefined ? undefined : loader.load(doc, raw.unevaluatedProperties),
    dependencyArrays,
    dependencySchemas,
    minProperties: num(raw.minProperties),
    maxProperties: num(raw.maxProperties),
  };
}

function arrayNode(loader: Loader, doc: Doc, raw: Record<string, unknown>): ArrayNode {
  let items: Node | undefined;
  let tuple: Node[] = [];
  let additional: Extras;
  if (Array.isArray(raw.prefixItems)) {
    tuple = raw.prefixItems.map((s) => loader.load(doc, s));
    additional = extras(loader, doc, raw.items);
  } else if (Array.isArray(raw.items)) {
    tuple = raw.items.map((s) => loader.load(doc, s));
    additional = extras(loader, doc, raw.additionalItems);
  } else if (typeof raw.items === "boolean") {
    // `items: false` with no tuple allows only the empty array; Confluent reports it as additionalItems.
    additional = extras(loader, doc, raw.items);
  } else {
    const all = raw.items === undefined ? undefined : loader.load(doc, raw.items);
    items = all?.kind === "empty" ? undefined : all;
    additional = extras(loader, doc, raw.additionalItems);
  }
  return {
    kind: "array",
    ann: NO_ANNOTATIONS,
    items,
    tuple,
    additional,
    unevaluated: raw.unevaluatedItems === undefined ? undefined : loader.load(doc, raw.unevaluatedItems),
    minItems: num(raw.minItems),
    maxItems: num(raw.maxItems),
    uniqueItems: raw.uniqueItems === true,
    minContains: num(raw.minContains),
    maxContains: num(raw.maxContains),
  };
}

function extras(loader: Loader, doc: Doc, raw: unknown): Extras {
  if (raw === undefined) return { present: false, permits: true };
  const schema = loader.load(doc, raw);
  if (schema.kind === "empty") return { present: true, permits: true };
  if (schema.kind === "false") return { present: true, permits: false };
  return { present: true, permits: true, schema };
}

function annotationsOf(raw: Record<string, unknown>): Annotations {
  return { id: idOf(raw), title: raw.title, description: raw.description, default: raw.default, hasDefault: "default" in raw };
}

export function idOf(raw: Record<string, unknown>): string | undefined {
  return str(raw.$id) ?? str(raw.id);
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

export function describe(node: Node): string {
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

export function deepEqual(a: unknown, b: unknown): boolean {
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

export function isRecord(v: unknown): v is Record<string, unknown> {
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
