import { ConfigError, type AppDefinition } from "../contract/mod.ts";
import { appNames } from "./names.ts";

/** One server-side subject mapping: messages published to `from` are stored under `to`. */
export interface SubjectMapping {
  from: string;
  to: string;
}

/**
 * The nats-server subject mappings that put an app's input on its partitioned subjects, for apps
 * whose actors are keyed by a subject token: `partition(n, k)` hashes the token (FNV-1a 32, modulo
 * n, as `partitionOf` does), so producers keep publishing the subjects they always did.
 *
 * Every actor must read its input patterns with the key at a wildcard position, and all actors of
 * one pattern must agree on it (one mapping per source subject). Throws a {@link ConfigError}
 * naming the actor otherwise: such an app needs producers that partition, or the repartition step.
 *
 * @example
 * partitionMappings(app, 32)
 * // [{ from: "purchases.*", to: "weir.in.shop.{{partition(32,1)}}.purchases.{{wildcard(1)}}" }, ...]
 */
export function partitionMappings(app: AppDefinition, partitions: number): SubjectMapping[] {
  const prefix = appNames(app.name).inputPrefix;
  const out = new Map<string, { to: string; actor: string }>();
  for (const actor of app.actors) {
    if (typeof actor.key !== "object" || !("token" in actor.key)) {
      throw new ConfigError(`actor ${actor.name} is keyed by a field or a function, not a subject token: the server cannot partition its input (publish partitioned subjects with weir's producers, or let weir repartition)`);
    }
    const at = actor.key.token;
    for (const pattern of actor.input) {
      for (const from of sourcesFor(pattern, at, actor.name)) {
        const tokens = from.split(".");
        let wildcard = 0;
        let keyWildcard = 0;
        const dest = tokens.map((t, i) => {
          if (t === ">") return ">";
          if (t !== "*") return t;
          wildcard++;
          if (i === at) keyWildcard = wildcard;
          return `{{wildcard(${wildcard})}}`;
        });
        const to = `${prefix}.{{partition(${partitions},${keyWildcard})}}.${dest.join(".")}`;
        const prev = out.get(from);
        if (prev && prev.to !== to) throw new ConfigError(`actors ${prev.actor} and ${actor.name} read ${from} with different keys: one subject can be partitioned one way`);
        out.set(from, { to, actor: actor.name });
      }
    }
  }
  return [...out].map(([from, { to }]) => ({ from, to }));
}

/**
 * The source subjects of a pattern with a wildcard at the key's position: `a.>` keyed at 1 is
 * `a.*` and `a.*.>` (the full wildcard stands for one or more tokens).
 */
function sourcesFor(pattern: string, at: number, actor: string): string[] {
  const tokens = pattern.split(".");
  const full = tokens[tokens.length - 1] === ">";
  const fixed = full ? tokens.length - 1 : tokens.length;
  if (at < fixed) {
    if (tokens[at] !== "*") throw new ConfigError(`actor ${actor}: the key token ${at} of input ${pattern} is not a wildcard (every event would be in one partition)`);
    return [pattern];
  }
  if (!full) throw new ConfigError(`actor ${actor}: input ${pattern} has no token ${at} to key by`);
  // Tokens between the fixed ones and the key are any single token; the key's own is `*`.
  const head = [...tokens.slice(0, fixed), ...Array<string>(at - fixed + 1).fill("*")].join(".");
  return [head, `${head}.>`];
}

/**
 * The mappings as a nats-server configuration block (the config file's `mappings`), for an
 * operator's server or the embedded one.
 *
 * @example
 * mappingConfig(partitionMappings(app, 32))
 * // mappings = {\n  "purchases.*": "weir.in.shop.{{partition(32,1)}}.purchases.{{wildcard(1)}}"\n}
 */
export function mappingConfig(mappings: readonly SubjectMapping[]): string {
  const lines = mappings.map((m) => `  ${JSON.stringify(m.from)}: ${JSON.stringify(m.to)}`);
  return `mappings = {\n${lines.join("\n")}\n}\n`;
}
