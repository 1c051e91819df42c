import { parseArgs } from "node:util";
import { join } from "node:path";
import { DEFAULTS, describeError, WeirError, type LogLevel } from "../runtime/mod.ts";
import { CONFIG_FLAG, fileKey, layeredOptions, type LayeredOptions, type Spec } from "./config.ts";

/** A command line that cannot be run as given: one line on stderr, exit code 2. */
export class UsageError extends WeirError {
  readonly retryable = false;
}

type Options = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>["options"]>;

/** Where the options of the command being run came from (see {@link whereFrom}). */
let sources: LayeredOptions["sources"] = {};

/**
 * An error about an option (`--workers must be ...`) names where its value came from when that
 * was not the command line: `WEIR_WORKERS (--workers) must be ...`, `workers in weir.toml (--workers) ...`.
 */
export function whereFrom(message: string): string {
  const m = /^--([a-z][a-z0-9-]*) /.exec(message);
  const src = m ? sources[m[1]!] : undefined;
  if (!m || !src || (src.from !== "env" && src.from !== "file")) return message;
  const where = src.from === "env" ? src.where! : `${fileKey(m[1]!)} in ${src.where}`;
  return `${where} (--${m[1]}) ${message.slice(m[0].length)}`;
}

/**
 * Parses a command's arguments (`--help` included), then fills what the command line left out from
 * the environment (`WEIR_<OPTION>`), then the config file, then the options' defaults (see
 * `cli/config.ts`). An unknown or malformed option is a UsageError naming the command.
 */
export function parse<T extends Options>(args: string[], options: T, command: string, env: NodeJS.ProcessEnv = process.env) {
  type Full = T & typeof CONFIG_FLAG & { help: { type: "boolean"; short: "h" } };
  // Defaults come last, after the environment and the file: parseArgs must not fill them in.
  const bare = Object.fromEntries(Object.entries(options).map(([k, { default: _d, ...o }]) => [k, o]));
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; allowNegative: true; options: Full }>>;
  try {
    parsed = parseArgs({ args, allowPositionals: true, allowNegative: true, options: { ...bare, ...CONFIG_FLAG, help: { type: "boolean", short: "h" } } as Full });
  } catch (err) {
    throw new UsageError(`${describeError(err)} (try weir ${command} --help)`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const layers = values.help ? undefined : layeredOptions(command, options as Spec, values, env);
  if (layers) {
    Object.assign(values, layers.values);
    sources = layers.sources;
  }
  return { ...parsed, layers };
}


export function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
  return n;
}

/** `host:port` (or `:port`, or a bare port) for --http. */
export function listenAddress(raw: string): { hostname: string; port: number } {
  const m = /^(?:(.*):)?(\d+)$/.exec(raw);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--http must be host:port (e.g. 127.0.0.1:8081), got "${raw}"`);
  return { hostname: m[1] || "127.0.0.1", port };
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const UNITS_BYTES: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** A duration: `7d`, `12h`, `30m`, `90s`, `500ms`, or 0 (no limit). */
export function durationArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(v.trim());
  if (!m || (m[2] === undefined && m[1] !== "0")) throw new UsageError(`--${name} must be a duration such as 7d, 12h or 30m (0 for no limit), got "${v}"`);
  return Math.round(Number(m[1]) * UNITS_MS[m[2] ?? "ms"]!);
}

/** A size: `1GiB`, `512MiB`, `10GB`, a number of bytes, or 0 (no limit). */
export function sizeArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i.exec(v.trim());
  if (!m) throw new UsageError(`--${name} must be a size such as 1GiB, 512MiB or 10GB (0 for no limit), got "${v}"`);
  return Math.round(Number(m[1]) * UNITS_BYTES[(m[2] ?? "b").toLowerCase()]!);
}

/** An ISO time or ms since the epoch. */
export function timeArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--${name} must be an ISO time or ms since the epoch, got "${v}"`);
  return t;
}

/** Where the commands that talk to NATS find it, and how they log in. */
export const NATS_OPTIONS = {
  nats: { type: "string" },
  "data-dir": { type: "string", default: DEFAULTS.dataDir },
  context: { type: "string" },
  "nats-user": { type: "string" },
  "nats-password": { type: "string" },
  "nats-token": { type: "string" },
  "nats-creds": { type: "string" },
  "nats-nkey": { type: "string" },
  "nats-ca": { type: "string" },
  "nats-cert": { type: "string" },
  "nats-key": { type: "string" },
  "nats-tls-first": { type: "boolean" },
} as const;

export type NatsValues = { [K in keyof typeof NATS_OPTIONS]?: (typeof NATS_OPTIONS)[K]["type"] extends "boolean" ? boolean | undefined : string | undefined };

/** The help lines of {@link NATS_OPTIONS}. */
export const NATS_HELP = `  --nats <url>           NATS server URL(s), comma-separated: nats://host:4222, tls://host:4222
                         (TLS), nats://user:password@host, nats://token@host (or NATS_URL;
                         default: the embedded nats-server in --data-dir)
  --data-dir <dir>       data directory of the embedded nats-server (default ${DEFAULTS.dataDir})
  --context <name>       a nats CLI context (~/.config/nats/context/<name>.json, or a path to
                         one; or NATS_CONTEXT): its URL, credentials and TLS files
  --nats-user <u>, --nats-password <p>
                         log in with a user and password (or NATS_USER, NATS_PASSWORD)
  --nats-token <t>       log in with a token (or NATS_TOKEN)
  --nats-creds <file>    log in with a .creds file: user JWT and nkey seed (or NATS_CREDS)
  --nats-nkey <file>     log in with an nkey seed file (or NATS_NKEY)
  --nats-ca <file>       CA certificate the server's is checked against (or NATS_CA)
  --nats-cert <file>, --nats-key <file>
                         client certificate and key, for servers that verify clients (or
                         NATS_CERT, NATS_KEY)
  --nats-tls-first       TLS before the server's greeting (servers with handshake_first)
  Flags win over the environment, and both over the context.`;

const LEVELS = ["debug", "info", "warn", "error"] as const;

/** Options of the commands that run an app (`run`, `replay`). */
export const APP_OPTIONS = {
  ...NATS_OPTIONS,
  workers: { type: "string" },
  partitions: { type: "string" },
  "max-in-flight": { type: "string" },
  "log-level": { type: "string", default: DEFAULTS.logLevel },
  "log-format": { type: "string", default: DEFAULTS.logFormat },
  progress: { type: "boolean" },
  registry: { type: "boolean", default: true },
  metrics: { type: "boolean", default: true },
  "retention-max-age": { type: "string" },
  "retention-max-bytes": { type: "string" },
  sink: { type: "string" },
  "lock-ttl": { type: "string" },
  replicas: { type: "string" },
} as const;

export type AppValues = ReturnType<typeof parse<typeof APP_OPTIONS>>["values"];

/** The app module and the runtime options every app-running command shares, checked. */
export function appArgs(values: AppValues, positionals: string[], command: string) {
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? `${command} needs an app module, e.g. weir ${command} ./apps/user-totals/main.ts`
        : `${command} takes one app module, got ${positionals.length}`,
    );
  }
  const level = values["log-level"] as LogLevel;
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}, got "${level}"`);
  }
  const logFormat = values["log-format"] as "text" | "json";
  if (logFormat !== "text" && logFormat !== "json") throw new UsageError(`--log-format must be text or json, got "${logFormat}"`);
  const workers = positiveInt("workers", values.workers as string | undefined);
  const partitions = positiveInt("partitions", values.partitions as string | undefined);
  const maxInFlight = positiveInt("max-in-flight", values["max-in-flight"] as string | undefined);
  const lockTtlMs = positiveInt("lock-ttl", values["lock-ttl"] as string | undefined);
  const replicas = positiveInt("replicas", values.replicas as string | undefined);
  return {
    app: positionals[0]!,
    logLevel: level,
    logFormat,
    metrics: values.metrics !== false,
    ...retentionArgs(values),
    ...(workers ? { workers } : {}),
    ...(partitions ? { partitions } : {}),
    ...(maxInFlight ? { maxInFlight } : {}),
    ...(lockTtlMs ? { lockTtlMs } : {}),
    ...(replicas ? { replicas } : {}),
    sink: (values.sink as string | undefined) ?? `sqlite:${join(String(values["data-dir"]), "out.db")}`,
  };
}

function retentionArgs(values: AppValues) {
  const maxAgeMs = durationArg("retention-max-age", values["retention-max-age"] as string | undefined);
  const maxBytes = sizeArg("retention-max-bytes", values["retention-max-bytes"] as string | undefined);
  return maxAgeMs === undefined && maxBytes === undefined ? {} : { retention: { ...(maxAgeMs !== undefined ? { maxAgeMs } : {}), ...(maxBytes !== undefined ? { maxBytes } : {}) } };
}
