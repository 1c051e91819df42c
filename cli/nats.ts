import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/nats-core";
import { ConfigError, connectNats, DEFAULTS, natsTarget, startEmbeddedNats, type NatsTarget } from "../runtime/internal.ts";
import { cliLog } from "./log.ts";
import { UsageError, type NatsValues } from "./options.ts";

/** The fields of a nats CLI context file weir uses (the others, e.g. a JetStream domain, are not read). */
interface NatsContext {
  url?: string;
  user?: string;
  password?: string;
  token?: string;
  creds?: string;
  nkey?: string;
  cert?: string;
  key?: string;
  ca?: string;
  tls_first?: boolean;
  inbox_prefix?: string;
}

/** The file of a nats CLI context: a path to a .json file, or a name under `$XDG_CONFIG_HOME/nats/context` (else `~/.config`). */
export function contextFile(nameOrPath: string, env: NodeJS.ProcessEnv = process.env): string {
  if (nameOrPath.endsWith(".json") || nameOrPath.includes("/")) return nameOrPath;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "nats", "context", `${nameOrPath}.json`);
}

function readContext(nameOrPath: string, env: NodeJS.ProcessEnv): NatsContext {
  const file = contextFile(nameOrPath, env);
  if (!existsSync(file)) throw new ConfigError(`no nats context "${nameOrPath}" (looked for ${file})`);
  let ctx: unknown;
  try {
    ctx = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ConfigError(`the nats context ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (!ctx || typeof ctx !== "object" || Array.isArray(ctx)) throw new ConfigError(`the nats context ${file} is not a JSON object`);
  const c = ctx as Record<string, unknown>;
  for (const k of ["url", "user", "password", "token", "creds", "nkey", "cert", "key", "ca", "inbox_prefix"] as const) {
    if (c[k] !== undefined && typeof c[k] !== "string") throw new ConfigError(`the nats context ${file}: "${k}" must be a string`);
  }
  if (c.tls_first !== undefined && typeof c.tls_first !== "boolean") throw new ConfigError(`the nats context ${file}: "tls_first" must be true or false`);
  return c as NatsContext;
}

/**
 * The NATS target the options (flags, environment, config file: see `cli/config.ts`) and a nats
 * context describe, the options first; undefined when none names a server: the embedded one is
 * used then, and credentials given are an error (it asks for none).
 */
export function natsTargetFrom(values: NatsValues, env: NodeJS.ProcessEnv = process.env): NatsTarget | undefined {
  const ctx: NatsContext = values.context ? readContext(values.context, env) : {};
  const pick = (option: string | undefined, fromCtx: string | undefined) => option || fromCtx || undefined;
  const url = pick(values.nats, ctx.url);
  if (!url) {
    const given = (["nats-user", "nats-password", "nats-token", "nats-creds", "nats-nkey", "nats-ca", "nats-cert", "nats-key", "nats-tls-first"] as const).find((k) => values[k] !== undefined);
    if (given) throw new UsageError(`--${given} (or its environment variable or config key) is for a NATS server given by --nats, NATS_URL or --context; the embedded nats-server asks for no credentials`);
    return undefined;
  }
  const ca = pick(values["nats-ca"], ctx.ca);
  const cert = pick(values["nats-cert"], ctx.cert);
  const key = pick(values["nats-key"], ctx.key);
  const first = values["nats-tls-first"] ?? ctx.tls_first;
  const opt = <K extends string>(k: K, v: string | undefined) => (v === undefined ? {} : ({ [k]: v } as Record<K, string>));
  return natsTarget({
    servers: url,
    ...opt("user", pick(values["nats-user"], ctx.user)),
    ...opt("password", pick(values["nats-password"], ctx.password)),
    ...opt("token", pick(values["nats-token"], ctx.token)),
    ...opt("creds", pick(values["nats-creds"], ctx.creds)),
    ...opt("nkey", pick(values["nats-nkey"], ctx.nkey)),
    ...opt("inboxPrefix", ctx.inbox_prefix),
    ...(ca || cert || key || first ? { tls: { ...opt("ca", ca), ...opt("cert", cert), ...opt("key", key), ...(first ? { first: true } : {}) } } : {}),
  });
}

/** The NATS to use: the one the flags, environment or context name, else the embedded server (started or reused). */
export async function natsFor(values: NatsValues) {
  const target = natsTargetFrom(values);
  if (target) return { target, embedded: undefined };
  const dataDir = values["data-dir"] ?? DEFAULTS.dataDir;
  const srv = await startEmbeddedNats(dataDir);
  cliLog.info(`${srv.reused ? "reusing" : "started"} embedded nats-server at ${srv.url} (data in ${dataDir})`);
  return { target: natsTarget(srv.url), embedded: srv };
}

/**
 * Runs a command's work on a NATS connection (the one the options name, else the embedded
 * server), then closes it; an embedded server this command started stops with it unless another
 * process uses it, one it found running is left running.
 */
export async function withNats<T>(values: NatsValues, name: string, work: (nc: NatsConnection) => Promise<T>, opts: { waitForNats?: boolean } = {}): Promise<T> {
  const { target, embedded } = await natsFor(values);
  try {
    // A long-running command (the registry) waits for a broker that is down; a one-shot one says so at once.
    const nc = await connectNats(target, name, opts.waitForNats ? { wait: true, onWait: (line) => cliLog.warn(line) } : {});
    try {
      return await work(nc);
    } finally {
      await nc.close();
    }
  } finally {
    await embedded?.release();
  }
}
