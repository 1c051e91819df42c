import { existsSync, readFileSync } from "node:fs";
import { ConfigError, redactUrl } from "../runtime/mod.ts";

/**
 * weir's settings, layered: each option's default, then the config file, then the environment,
 * then the command line (each over the one before).
 *
 * - The file is `--config <file>`, else `$WEIR_CONFIG`, else `weir.toml` in the working directory
 *   when there is one. TOML: top-level keys are options (`log_level = "debug"`, `workers = 2`);
 *   `[nats]` holds the connection (`url`, `user`, `password`, `token`, `creds`, `nkey`, `ca`, `cert`,
 *   `key`, `tls_first`, `context`); a table named after a command (`[run]`, `[registry]`, ...) holds
 *   options for that command only, over the top-level ones.
 * - The environment: `WEIR_<OPTION>` (`WEIR_LOG_LEVEL`, `WEIR_NATS_PASSWORD`), and for the
 *   connection the nats tooling's `NATS_URL`, `NATS_USER`, ... where the `WEIR_` one is not set.
 * - A nats context (`--context`) fills what is still not set of the connection (`cli/nats.ts`).
 */

/** `--config <file>`, which every command takes. */
export const CONFIG_FLAG = { config: { type: "string" } } as const;

export type Spec = Record<string, { type: "string" | "boolean"; default?: string | boolean; short?: string; multiple?: boolean }>;

/** Each command's options, as the command declares them (registered by {@link commandOptions}). */
const COMMANDS = new Map<string, Spec>();

/**
 * Declares a command's options (its parseArgs spec), so a config file's keys can be checked
 * against every command's, and `weir config` can list them.
 *
 * @example
 * const OPTIONS = commandOptions("status", { ...NATS_OPTIONS, json: { type: "boolean" } });
 */
export function commandOptions<T extends Spec>(command: string, spec: T): T {
  COMMANDS.set(command, spec);
  return spec;
}

export function commandNames(): string[] {
  return [...COMMANDS.keys()];
}

export function optionsOf(command: string): Spec | undefined {
  return COMMANDS.get(command);
}

/** Where a setting's value came from. */
export type Source = "flag" | "env" | "file" | "default";

export interface LayeredOptions {
  values: Record<string, string | boolean | undefined>;
  sources: Record<string, { from: Source; where?: string }>;
  file?: string;
}

/** The file key of an option: `nats` is `nats.url`, `nats-user` is `nats.user`, `context` is `nats.context`, others as they are with `_` for `-`. */
export function fileKey(option: string): string {
  if (option === "nats") return "nats.url";
  if (option === "context") return "nats.context";
  if (option.startsWith("nats-")) return `nats.${option.slice(5).replaceAll("-", "_")}`;
  return option.replaceAll("-", "_");
}

/** The environment variable of an option: `WEIR_` and its name in capitals, `_` for `-`. */
export const envName = (option: string) => `WEIR_${option.toUpperCase().replaceAll("-", "_")}`;

/** The nats tooling's variables, read where the `WEIR_` one is not set. */
const NATS_ENV: Record<string, string> = {
  nats: "NATS_URL",
  context: "NATS_CONTEXT",
  "nats-user": "NATS_USER",
  "nats-password": "NATS_PASSWORD",
  "nats-token": "NATS_TOKEN",
  "nats-creds": "NATS_CREDS",
  "nats-nkey": "NATS_NKEY",
  "nats-ca": "NATS_CA",
  "nats-cert": "NATS_CERT",
  "nats-key": "NATS_KEY",
};

/** Which config file applies: the flag's, `$WEIR_CONFIG`, or `./weir.toml` when it exists. */
export function configFile(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const named = flag ?? (env.WEIR_CONFIG || undefined);
  if (named !== undefined) {
    if (!existsSync(named)) throw new ConfigError(`config file ${named} does not exist`);
    return named;
  }
  return existsSync("weir.toml") ? "weir.toml" : undefined;
}

const isTable = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);

/** A config file's settings for one command, by option name, checked: unknown keys and wrong types are errors naming the key and the file. */
function readConfigFile(file: string, command: string, spec: Spec): Map<string, string | boolean> {
  let doc: Record<string, unknown>;
  try {
    doc = Bun.TOML.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid TOML: ${(err as Error).message.replace(/^TOML Parse error: /, "")}`);
  }
  // Every key any command takes, by its file key.
  const known = new Map<string, "string" | "boolean">();
  for (const s of [...COMMANDS.values(), spec]) for (const [name, o] of Object.entries(s)) known.set(fileKey(name), o.type);
  const mine = new Map(Object.entries(spec).map(([name]) => [fileKey(name), name] as const));
  const out = new Map<string, string | boolean>();
  const take = (key: string, value: unknown, forThis: boolean) => {
    const type = known.get(key);
    if (!type) throw new ConfigError(`config file ${file}: unknown key "${key}"`);
    if (type === "boolean" && typeof value !== "boolean") throw new ConfigError(`config file ${file}: "${key}" must be true or false`);
    if (type === "string" && typeof value !== "string" && typeof value !== "number") throw new ConfigError(`config file ${file}: "${key}" must be a string or a number`);
    const name = mine.get(key);
    if (forThis && name) out.set(name, typeof value === "number" ? String(value) : (value as string | boolean));
  };
  const walk = (table: Record<string, unknown>, where: string, forThis: boolean) => {
    for (const [k, v] of Object.entries(table)) {
      if (!isTable(v)) take(k, v, forThis);
      else if (k === "nats") {
        for (const [nk, nv] of Object.entries(v)) {
          if (isTable(nv)) throw new ConfigError(`config file ${file}: unknown table "${where}nats.${nk}"`);
          take(`nats.${nk}`, nv, forThis);
        }
      } else if (where !== "" || !COMMANDS.has(k)) throw new ConfigError(`config file ${file}: unknown table "${where}${k}"`);
    }
  };
  // The top level first, then the command's own table over it (the other commands' are checked too).
  walk(doc, "", true);
  for (const c of COMMANDS.keys()) if (isTable(doc[c])) walk(doc[c] as Record<string, unknown>, `${c}.`, c === command);
  return out;
}

const TRUE = new Set(["1", "true", "yes", "on"]);
const FALSE = new Set(["0", "false", "no", "off"]);

/**
 * A command's option values, layered (see the top of this file): `given` holds the command line's
 * (undefined where absent).
 */
export function layeredOptions(command: string, spec: Spec, given: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): LayeredOptions {
  const file = configFile(given.config as string | undefined, env);
  const fromFile = file ? readConfigFile(file, command, spec) : new Map<string, string | boolean>();
  const values: LayeredOptions["values"] = {};
  const sources: LayeredOptions["sources"] = {};
  for (const [name, o] of Object.entries(spec)) {
    const variable = env[envName(name)] || !NATS_ENV[name] || !env[NATS_ENV[name]!] ? envName(name) : NATS_ENV[name]!;
    const e = env[variable];
    if (given[name] !== undefined) {
      values[name] = given[name];
      sources[name] = { from: "flag" };
    } else if (e !== undefined && e !== "") {
      if (o.type === "boolean") {
        const v = e.toLowerCase();
        if (!TRUE.has(v) && !FALSE.has(v)) throw new ConfigError(`${variable} must be true or false, got "${e}"`);
        values[name] = TRUE.has(v);
      } else values[name] = e;
      sources[name] = { from: "env", where: variable };
    } else if (fromFile.has(name)) {
      values[name] = fromFile.get(name);
      sources[name] = { from: "file", where: file! };
    } else if (o.default !== undefined) {
      values[name] = o.default;
      sources[name] = { from: "default" };
    }
  }
  return { values, sources, ...(file ? { file } : {}) };
}

/** Options whose values are secrets: shown as `***` (URLs with their credentials hidden). */
const SECRET = new Set(["nats-password", "nats-token", "registry-token", "token"]);

/** A value as `weir config` shows it. */
export function shown(option: string, value: string | boolean | undefined): string {
  if (value === undefined) return "(not set)";
  if (SECRET.has(option)) return "***";
  if (typeof value === "string" && /:\/\//.test(value)) return JSON.stringify(redactUrl(value));
  return JSON.stringify(value);
}
