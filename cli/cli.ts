import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { createReadStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { ConfigError, describeError, WeirError } from "../runtime/contract/errors.ts";
import type { LogLevel } from "../runtime/observe/log.ts";
import { startEmbeddedNats } from "../runtime/nats/server.ts";
import type { Hono } from "hono";
import { viewsApi } from "./views-api.ts";
import { deadLetterStats, describePayload, readDeadLetters, redrive } from "../runtime/ops/dlq.ts";
import { loadApp } from "../runtime/contract/load-app.ts";
import { appNames, NAMESPACE_PATTERN } from "../runtime/nats/streams.ts";
import { kvViews, viewBucket } from "../runtime/state/views.ts";
import { progressLine } from "./progress.ts";
import { startRuntime, type RuntimeOptions } from "../runtime/runtime.ts";
import { LIVE } from "../runtime/ops/replay.ts";
import { schemaProducer } from "../runtime/ops/producer.ts";
// The CLI is the edge where implementations are picked (DESIGN.md habit 1): it wires the registry
// into the runtime through the runtime's SchemaRegistryPort seam.
import {
  createRegistry,
  kvRegistryStore,
  serveRegistry,
  type Registry,
  type RegistryApiOptions,
  type RegistryServer,
} from "../schema-registry/mod.ts";
import { registryPort } from "./registry-port.ts";

const HELP = `weir ${pkg.version} — keyed actors on NATS JetStream

Usage:
  weir run <app-module.ts> [options]   run an app (a module that exports default defineApp(...))
  weir registry [options]              serve the schema registry (Confluent-compatible HTTP API)
  weir produce <subject> [options]     validate JSON events against the registry and publish them
  weir replay <app-module.ts> --from <seq|time> --into <namespace>
                                       reprocess a range of the input into a namespace
  weir dlq stats|show|redrive <app>    dead-letter triage: counts, samples, send again once
  weir --help                          this text (also: weir run --help)
  weir --version                       print the version

Run 'weir <command> --help' for the options of a command.
`;

const RUN_HELP = `Usage: weir run <app-module.ts> [options]

Runs the app's actors on its input stream until SIGINT/SIGTERM, then snapshots and exits.
State is snapshotted while it runs; after a crash (even kill -9), run it again: it resumes exactly.

Options:
  --nats <url>           NATS server URL. Without it weir starts its own nats-server
                         (JetStream, data in --data-dir) or reuses the one it left running.
  --data-dir <dir>       data directory of the embedded nats-server (default ./.weir)
  --workers <n>          worker threads (default: number of cores)
  --partitions <n>       partition count (default: the app's, else 32; fixed once state exists)
  --max-in-flight <n>    most messages between the source and the workers (default 8192)
  --log-level <level>    debug | info | warn | error (default info)
  --progress             live counter line on stderr (default when stderr is a terminal)
  --no-progress          no counter line
  --http <host:port>     where the schema registry API is served (default 127.0.0.1:8081;
                         if the port is taken, e.g. by another weir on this host, run goes on
                         without it: the registry lives in NATS and the other process serves it)
  --no-http              do not serve the registry API
  --registry-token <t>   bearer token required for registry writes (or WEIR_REGISTRY_TOKEN)
  --no-registry          do not register input schemas nor validate Weir-Schema-Id headers
  --sink <url>           SQL sink for apps that declare tables: sqlite:<path> (default
                         sqlite:<data-dir>/out.db) or postgres://host/db[?schema=name]
  --lock-ttl <ms>        one instance at a time runs an app: a second start is refused while
                         the first renews its lock; a killed instance's lock is taken over
                         this long after its last renewal (default 10000)
  -h, --help             this text

Schemas: each actor's input schema (from its zod event schema) is registered under
<input-subject>-value before anything is consumed; if the registry refuses it as incompatible,
run exits 1 with the registry's reasons. Events with a Weir-Schema-Id header that do not match
that schema go to the dead-letter subject with the validation error as their reason.
`;

const REPLAY_HELP = `Usage: weir replay <app-module.ts> --from <seq|time> [--to <seq|time>] --into <namespace> [options]

Reprocesses a range of the app's input stream with the app's code, from empty state at --from,
and exits when the range is done. Deterministic: the same range replayed twice gives the same
outputs (same message ids and contents), rows and views. Interrupted, it resumes when run again.

  --from <seq|time>      first message: a stream sequence (1 = the beginning) or an ISO time
                         (the first message stored at or after it)
  --to <seq|time>        last message, inclusive: a sequence, or an ISO time (the last message
                         stored before it). Default: the end of the stream as the replay starts
  --into <namespace>     where the effects go, apart from the live app's:
                           outputs   <namespace>.<subject>, stream weir_<app>__<namespace>_out
                           dead letters  weir.dlq.<app>.<namespace>
                           tables    <namespace>_<table> (same --sink database)
                           views     KV bucket weir_<app>__<namespace>_views
                           state     KV bucket weir_<app>__<namespace>_state
                         A namespace holds one range; replay another into a new namespace.
  --into live            into the live app's own subjects, tables and views, repeating no effect
                         they hold: outputs and dead letters of events the live app has passed
                         are not sent again; rows and view values go only where the database's
                         (or the view bucket's) stored offsets are behind, e.g. a database
                         restored from a backup. It stops where the live app is; stop the live
                         app while it runs. Rows that depend on earlier events (running totals)
                         need --from 1.

Options:
  --nats <url>           NATS server URL (default: the embedded nats-server in --data-dir)
  --data-dir <dir>       data directory of the embedded nats-server (default ./.weir)
  --sink <url>           SQL sink (default sqlite:<data-dir>/out.db), as for weir run
  --workers <n>          worker threads (default: number of cores)
  --partitions <n>       partition count (default: the app's)
  --max-in-flight <n>    most messages between the source and the workers (default 8192)
  --log-level <level>    debug | info | warn | error (default info)
  --progress             live counter line on stderr (default when stderr is a terminal)
  --no-registry          do not validate Weir-Schema-Id headers
  --lock-ttl <ms>        as for weir run (a replay into live is refused while the live app runs)
  -h, --help             this text

Processing-time timers and early window results depend on the wall clock: they are the only
outputs a replay does not reproduce exactly.
`;

const REGISTRY_HELP = `Usage: weir registry [options]

Serves the schema registry (Confluent Schema Registry REST API: JSON Schema, compatibility
levels, modes) until SIGINT/SIGTERM. Schemas live in the JetStream KV bucket weir_registry, so
every registry process (and every weir run) on the same NATS shares them.

Options:
  --nats <url>           NATS server URL (default: the embedded nats-server in --data-dir)
  --data-dir <dir>       data directory of the embedded nats-server (default ./.weir)
  --http <host:port>     listen address (default 127.0.0.1:8081; port 0 picks a free one)
  --token <t>            bearer token required for writes (or WEIR_REGISTRY_TOKEN)
  --protect-reads        require the token for reads too
  --max-body <bytes>     largest request body (default 1048576); larger ones get 413
  -h, --help             this text
`;

const PRODUCE_HELP = `Usage: weir produce <subject> [options]

Reads JSON events (one per line) from --file or stdin, validates each against the latest
schema registered for <subject>-value (or a <pattern>-value whose pattern matches <subject>),
and publishes the valid ones with a Weir-Schema-Id header. Invalid lines are reported on
stderr with their line number and not published; the exit code is 1 if any line was invalid.

Options:
  --nats <url>           NATS server URL (default: the embedded nats-server in --data-dir)
  --data-dir <dir>       data directory of the embedded nats-server (default ./.weir)
  --file <path>          read events from this file instead of stdin
  --format <f>           msgpack (default) | json: the wire format
  --msg-id <field>       use this event field as Nats-Msg-Id (server-side dedup)
  -h, --help             this text
`;

const DLQ_HELP = `Usage: weir dlq <stats|show|redrive> <app> [options]

  stats     counts of dead letters by error class and reason, and by source subject
  show      dead letters with their headers and decoded payloads
  redrive   publishes the selected dead letters to their original subjects again (after a fix);
            each one at most once, however often redrive runs (failed timers and rows the
            database refused are not events: they are skipped)

<app> is the app's name or its module path. Options:
  --nats <url>           NATS server URL (default: the embedded nats-server in --data-dir)
  --data-dir <dir>       data directory of the embedded nats-server (default ./.weir)
  --since <time>         only dead letters stored at or after this ISO time (or ms since the epoch)
  --until <time>         ... and at or before this one
  --error <class>        only this error class (e.g. HandlerError, ValidationError)
  --subject <pattern>    only dead letters from source subjects matching this pattern
  --limit <n>            show/redrive at most n (default: show 10, redrive all)
  --namespace <ns>       stats/show: the dead letters of a replay namespace (weir replay --into)
  -h, --help             this text
`;

class UsageError extends WeirError {
  readonly retryable = false;
}

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
  return n;
}

const LEVELS = ["debug", "info", "warn", "error"] as const;

/** Runs the command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (err) {
    // One line, no stack: bad input is the user's to fix, and the message says how.
    process.stderr.write(`weir: ${describeError(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

async function dispatch(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === "-h" || cmd === "--help" || cmd === "help") {
    process.stdout.write(HELP);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd === "-v" || cmd === "--version" || cmd === "version") {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  if (cmd === "run") return run(rest);
  if (cmd === "replay") return replayCommand(rest);
  if (cmd === "registry") return registryCommand(rest);
  if (cmd === "produce") return produceCommand(rest);
  if (cmd === "dlq") return dlqCommand(rest);
  throw new UsageError(`unknown command "${cmd}" (try weir --help)`);
}

function parse<T extends NonNullable<Parameters<typeof parseArgs>[0]>["options"]>(args: string[], options: T, command: string) {
  try {
    return parseArgs({ args, allowPositionals: true, allowNegative: true, options: { ...options, help: { type: "boolean", short: "h" } } });
  } catch (err) {
    throw new UsageError(`${describeError(err)} (try weir ${command} --help)`);
  }
}

/** `host:port` (or `:port`, or a bare port) for --http. */
function listenAddress(raw: string): { hostname: string; port: number } {
  const m = /^(?:(.*):)?(\d+)$/.exec(raw);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--http must be host:port (e.g. 127.0.0.1:8081), got "${raw}"`);
  return { hostname: m[1] || "127.0.0.1", port };
}

/** The NATS URL to use: --nats, else the embedded server (started or reused). */
async function natsFor(values: { nats?: string | undefined; "data-dir"?: string | undefined }) {
  if (values.nats) return { url: values.nats, embedded: undefined };
  const dataDir = values["data-dir"] ?? ".weir";
  const srv = await startEmbeddedNats(dataDir);
  process.stderr.write(`weir: ${srv.reused ? "reusing" : "started"} embedded nats-server at ${srv.url} (data in ${dataDir})\n`);
  return { url: srv.url, embedded: srv };
}

/**
 * Runs a command's work on a NATS connection (given by --nats, else the embedded server), then
 * closes it; an embedded server this command started is its own and stops with it, one it found
 * running belongs to someone else.
 */
async function withNats<T>(values: { nats?: string | undefined; "data-dir"?: string | undefined }, name: string, work: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const { url, embedded } = await natsFor(values);
  try {
    const nc = await connectTo(url, name);
    try {
      return await work(nc);
    } finally {
      await nc.close();
    }
  } finally {
    if (embedded && !embedded.reused) await embedded.stop();
  }
}

async function connectTo(url: string, name: string): Promise<NatsConnection> {
  return connect({ servers: url, noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 250, name }).catch((err) => {
    throw new ConfigError(`cannot connect to NATS at ${url}: ${describeError(err)}`, { cause: err });
  });
}

/** Serves the registry API; a taken port is a warning (another weir on this host serves the same registry). */
function serveApi(
  registry: Registry,
  listen: { hostname: string; port: number },
  opts: RegistryApiOptions,
  required: boolean,
  views?: Hono,
): RegistryServer | undefined {
  try {
    const srv = serveRegistry(registry, { ...listen, ...opts, ...(views ? { also: views } : {}) });
    process.stderr.write(`weir: schema registry API${views ? " and views" : ""} at ${srv.url}\n`);
    return srv;
  } catch (err) {
    const msg = `cannot serve the registry API on ${listen.hostname}:${listen.port}: ${describeError(err)}`;
    if (required) throw new ConfigError(msg, { cause: err });
    process.stderr.write(`weir: warning: ${msg}; going on without it (pass --http or --no-http)\n`);
    return undefined;
  }
}

function onSignals(stop: (sig: string) => void) {
  let signals = 0;
  const handler = (sig: string) => {
    if (++signals > 1) process.exit(130);
    stop(sig);
  };
  process.on("SIGINT", () => handler("SIGINT"));
  process.on("SIGTERM", () => handler("SIGTERM"));
}

/** Options of the commands that run an app (`run`, `replay`). */
const APP_OPTIONS = {
  nats: { type: "string" },
  "data-dir": { type: "string", default: ".weir" },
  workers: { type: "string" },
  partitions: { type: "string" },
  "max-in-flight": { type: "string" },
  "log-level": { type: "string", default: "info" },
  progress: { type: "boolean" },
  registry: { type: "boolean", default: true },
  sink: { type: "string" },
  "lock-ttl": { type: "string" },
} as const;

type AppValues = ReturnType<typeof parse<typeof APP_OPTIONS>>["values"];

/** The app module and the runtime options every app-running command shares, checked. */
function appArgs(values: AppValues, positionals: string[], command: string) {
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
  const workers = positiveInt("workers", values.workers as string | undefined);
  const partitions = positiveInt("partitions", values.partitions as string | undefined);
  const maxInFlight = positiveInt("max-in-flight", values["max-in-flight"] as string | undefined);
  const lockTtlMs = positiveInt("lock-ttl", values["lock-ttl"] as string | undefined);
  return {
    app: positionals[0]!,
    logLevel: level,
    ...(workers ? { workers } : {}),
    ...(partitions ? { partitions } : {}),
    ...(maxInFlight ? { maxInFlight } : {}),
    ...(lockTtlMs ? { lockTtlMs } : {}),
    sink: (values.sink as string | undefined) ?? `sqlite:${join(String(values["data-dir"]), "out.db")}`,
  };
}

type Runtime = Awaited<ReturnType<typeof startRuntime>>;

/**
 * Starts an app (the embedded nats-server and the registry as asked), shows progress, and returns
 * the exit code once `until(runtime)` settles and the runtime has stopped. SIGINT/SIGTERM stop it
 * cleanly (a second one force-quits).
 */
async function driveApp(
  values: AppValues,
  options: Omit<RuntimeOptions, "nats" | "registry">,
  hooks: {
    /** Once the app is up (e.g. to serve its API); returns what to stop at the end. */
    started?: (rt: Runtime, registry: Registry | undefined, registryNc: NatsConnection | undefined) => Promise<{ stop(): Promise<void> } | undefined>;
    /** What the command waits for before stopping (default: the runtime stopping). */
    until?: (rt: Runtime) => Promise<void>;
    /** Last words on stdout after a clean stop. */
    summary?: (rt: Runtime) => string;
  } = {},
): Promise<number> {
  const { url, embedded } = await natsFor(values as { nats?: string; "data-dir"?: string });
  let registryNc: NatsConnection | undefined;
  let extra: { stop(): Promise<void> } | undefined;
  const cleanup = async () => {
    await extra?.stop();
    await registryNc?.close();
    await embedded?.stop();
  };
  // Signals are handled from here on: one that arrives while the app is still starting stops it as
  // soon as it is up, instead of killing the process mid-start.
  let rt: Runtime | undefined;
  let stopAsked = false;
  onSignals((sig) => {
    process.stderr.write(`\nweir: ${sig}: finishing in-flight work and snapshotting (again to force quit)\n`);
    stopAsked = true;
    rt?.stop().catch(() => {});
  });
  try {
    let registry: Registry | undefined;
    if (values.registry) {
      registryNc = await connectTo(url, "weir-registry");
      registry = createRegistry({ store: await kvRegistryStore(registryNc) });
    }
    rt = await startRuntime({ ...options, nats: url, ...(registry ? { registry: registryPort(registry) } : {}) });
    // Started once the app is up, so a start-up failure stays a one-line error.
    extra = await hooks.started?.(rt, registry, registryNc);
  } catch (err) {
    await cleanup();
    throw err;
  }
  const runtime = rt;
  if (stopAsked) runtime.stop().catch(() => {});

  const showProgress = (values.progress as boolean | undefined) ?? Boolean(process.stderr.isTTY);
  const line = progressLine();
  const timer = showProgress
    ? setInterval(() => process.stderr.write(`\r\x1b[2K${line(runtime.metrics())}`), 1000)
    : undefined;

  try {
    if (hooks.until) {
      await Promise.race([hooks.until(runtime), runtime.done]);
      await runtime.stop();
    }
    await runtime.done;
    if (showProgress) process.stderr.write(`\r\x1b[2K${line(runtime.metrics())}\n`);
    if (hooks.summary && !stopAsked) process.stdout.write(hooks.summary(runtime));
    return stopAsked && hooks.until ? 130 : 0;
  } catch (err) {
    if (showProgress) process.stderr.write(`\r\x1b[2K${line(runtime.metrics())}\n`);
    process.stderr.write(`weir: ${describeError(err)}\n`);
    return 1;
  } finally {
    if (timer) clearInterval(timer);
    await cleanup();
  }
}

async function run(argv: string[]): Promise<number> {
  // parseArgs negates only boolean options; --http is a string, so --no-http is taken out by hand.
  const noHttp = argv.includes("--no-http");
  const { values, positionals } = parse(
    argv.filter((a) => a !== "--no-http"),
    { ...APP_OPTIONS, http: { type: "string", default: "127.0.0.1:8081" }, "registry-token": { type: "string" } },
    "run",
  );
  if (values.help) {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  const options = appArgs(values, positionals, "run");
  const http = noHttp ? undefined : listenAddress(String(values.http));
  const token = (values["registry-token"] as string | undefined) ?? process.env.WEIR_REGISTRY_TOKEN;
  return driveApp(values, options, {
    async started(rt, registry, registryNc) {
      if (!registry || !http) return undefined;
      // The app's views are served beside the registry, read from the same NATS.
      const names = rt.app.views ?? [];
      const views = names.length ? viewsApi(await kvViews(registryNc!, viewBucket(rt.app.name)), names) : undefined;
      return serveApi(registry, http, token ? { token } : {}, false, views);
    },
  });
}

/** A replay bound: a positive integer is a stream sequence, anything else an ISO time. */
function boundArg(name: string, v: string | undefined): number | Date | undefined {
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n < 1) throw new UsageError(`--${name} must be a stream sequence (1 or more) or an ISO time, got "${v}"`);
    return n;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--${name} must be a stream sequence or an ISO time (e.g. 2026-11-21T08:00:00Z), got "${v}"`);
  return new Date(t);
}

async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...APP_OPTIONS, from: { type: "string" }, to: { type: "string" }, into: { type: "string" } }, "replay");
  if (values.help) {
    process.stdout.write(REPLAY_HELP);
    return 0;
  }
  const options = appArgs(values, positionals, "replay");
  const from = boundArg("from", values.from as string | undefined);
  if (from === undefined) throw new UsageError("replay needs --from <sequence|time> (1 for the whole stream)");
  const to = boundArg("to", values.to as string | undefined);
  const into = values.into as string | undefined;
  if (into === undefined) throw new UsageError("replay needs --into <namespace> (or --into live)");
  if (into !== LIVE && !NAMESPACE_PATTERN.test(into)) {
    throw new UsageError(`--into must be "live" or a namespace: a letter, then up to 31 letters, digits or _, got "${into}"`);
  }
  return driveApp(
    values,
    { ...options, replay: { into, from, ...(to !== undefined ? { to } : {}) } },
    {
      until: (rt) => rt.ended,
      summary(rt) {
        const m = rt.metrics();
        const r = rt.range!;
        const names = appNames(rt.app.name, into === LIVE ? undefined : into);
        const where =
          into === LIVE
            ? "into the live app's subjects, tables and views (effects they held already were not repeated)"
            : `into namespace ${into}: outputs ${names.outputPrefix}<subject> in stream ${names.output}, dead letters in ${names.dlq}, ` +
              `tables ${names.tablePrefix}<table>, views bucket ${names.views}, state bucket ${names.bucket}`;
        const span = r.to < r.from ? "an empty range" : `sequences ${r.from}..${r.to}`;
        return `replayed ${span} of app ${rt.app.name}: ${m.processed} events applied, ${m.emitted} outputs, ${m.dlq} dead letters, ${where}\n`;
      },
    },
  );
}

async function registryCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      nats: { type: "string" },
      "data-dir": { type: "string", default: ".weir" },
      http: { type: "string", default: "127.0.0.1:8081" },
      token: { type: "string" },
      "protect-reads": { type: "boolean", default: false },
      "max-body": { type: "string" },
    },
    "registry",
  );
  if (values.help) {
    process.stdout.write(REGISTRY_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`registry takes no arguments, got "${positionals[0]}" (try weir registry --help)`);
  const listen = listenAddress(String(values.http));
  const maxBodyBytes = positiveInt("max-body", values["max-body"] as string | undefined);
  const token = (values.token as string | undefined) ?? process.env.WEIR_REGISTRY_TOKEN;
  if (values["protect-reads"] && !token) throw new UsageError("--protect-reads needs --token (or WEIR_REGISTRY_TOKEN)");

  return withNats(values as { nats?: string; "data-dir"?: string }, "weir-registry", async (nc) => {
    let api: RegistryServer | undefined;
    try {
      const registry = createRegistry({ store: await kvRegistryStore(nc) });
      api = serveApi(
        registry,
        listen,
        { ...(token ? { token } : {}), protectReads: Boolean(values["protect-reads"]), ...(maxBodyBytes ? { maxBodyBytes } : {}) },
        true,
      );
      // Tools that start a registry on port 0 read the address from this line.
      process.stdout.write(`${api!.url}\n`);
      await new Promise<void>((resolve) => onSignals(() => resolve()));
      return 0;
    } finally {
      await api?.stop();
    }
  });
}

async function produceCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      nats: { type: "string" },
      "data-dir": { type: "string", default: ".weir" },
      file: { type: "string" },
      format: { type: "string", default: "msgpack" },
      "msg-id": { type: "string" },
    },
    "produce",
  );
  if (values.help) {
    process.stdout.write(PRODUCE_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "produce needs a subject, e.g. weir produce orders.eu < events.jsonl" : `produce takes one subject, got ${positionals.length}`);
  }
  const subject = positionals[0]!;
  if (/[*>\s]/.test(subject)) throw new UsageError(`produce needs a concrete subject (no wildcards or spaces), got "${subject}"`);
  const format = String(values.format);
  if (format !== "msgpack" && format !== "json") throw new UsageError(`--format must be msgpack or json, got "${format}"`);
  const file = values.file as string | undefined;
  if (file !== undefined && !existsSync(file)) throw new UsageError(`--file ${file} does not exist`);
  const idField = values["msg-id"] as string | undefined;

  return withNats(values as { nats?: string; "data-dir"?: string }, "weir-produce", async (nc) => {
    let sent = 0;
    let invalid = 0;
    const port = registryPort(createRegistry({ store: await kvRegistryStore(nc) }));
    const producer = schemaProducer(jetstream(nc), port);
    const { id, registrySubject } = await producer.schemaFor(subject);
    process.stderr.write(`weir: validating against schema ${id} (${registrySubject})\n`);
    const input = file ? createReadStream(file) : process.stdin;
    let lineNo = 0;
    const pending: Promise<unknown>[] = [];
    const live = process.stderr.isTTY ? setInterval(() => process.stderr.write(`\r\x1b[2K${sent} published, ${invalid} invalid`), 500) : undefined;
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      lineNo++;
      if (line.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (err) {
        invalid++;
        process.stderr.write(`weir: line ${lineNo}: not JSON: ${describeError(err)}\n`);
        continue;
      }
      const at = lineNo;
      const msgID = idField ? (value as Record<string, unknown> | null)?.[idField] : undefined;
      const p = producer
        .publish(subject, value, { format, ...(msgID !== undefined ? { msgID: String(msgID) } : {}) })
        .then(() => sent++)
        .catch((err) => {
          invalid++;
          process.stderr.write(`weir: line ${at}: ${describeError(err)}\n`);
        });
      pending.push(p);
      if (pending.length >= 1000) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    if (live) clearInterval(live);
    process.stderr.write(`${process.stderr.isTTY ? "\r\x1b[2K" : ""}weir: ${sent} published to ${subject}, ${invalid} invalid\n`);
    return invalid > 0 ? 1 : 0;
  });
}

function timeArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (Number.isNaN(t)) throw new UsageError(`--${name} must be an ISO time or ms since the epoch, got "${v}"`);
  return t;
}

async function dlqCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      nats: { type: "string" },
      "data-dir": { type: "string", default: ".weir" },
      since: { type: "string" },
      until: { type: "string" },
      error: { type: "string" },
      subject: { type: "string" },
      limit: { type: "string" },
      namespace: { type: "string" },
    },
    "dlq",
  );
  if (values.help) {
    process.stdout.write(DLQ_HELP);
    return 0;
  }
  const [action, appArg, ...extra] = positionals;
  if (!action || !["stats", "show", "redrive"].includes(action)) throw new UsageError(`dlq needs stats, show or redrive, got "${action ?? ""}" (try weir dlq --help)`);
  if (!appArg) throw new UsageError(`dlq ${action} needs an app name or module`);
  if (extra.length) throw new UsageError(`dlq ${action} takes one app, got "${extra.join(" ")}" too`);
  const namespace = values.namespace as string | undefined;
  if (namespace !== undefined && !NAMESPACE_PATTERN.test(namespace)) throw new UsageError(`--namespace must be a replay namespace (a letter, then letters, digits or _), got "${namespace}"`);
  // Redriving sends to the live input subjects: a namespace's failures are fixed by replaying again.
  if (namespace !== undefined && action === "redrive") throw new UsageError("redrive sends dead letters to the live app's input; for a replay namespace, fix the cause and replay into a new namespace");
  const since = timeArg("since", values.since as string | undefined);
  const until = timeArg("until", values.until as string | undefined);
  const filter = {
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(values.error ? { error: String(values.error) } : {}),
    ...(values.subject ? { subject: String(values.subject) } : {}),
    ...(namespace ? { namespace } : {}),
  };
  const limit = positiveInt("limit", values.limit as string | undefined);
  const app = /\.(ts|js|mjs)$/.test(appArg) ? (await loadApp(appArg)).name : appArg;

  return withNats(values as { nats?: string; "data-dir"?: string }, "weir-dlq", async (nc) => {
    let letters = await readDeadLetters(nc, app, filter).catch((err) => {
      throw new ConfigError(`cannot read the dead letters of app ${app} (stream ${appNames(app, namespace).dlq}): ${describeError(err)}`, { cause: err });
    });
    if (action === "stats") {
      const st = deadLetterStats(letters);
      const span = letters.length ? ` from ${new Date(letters[0]!.time).toISOString()} to ${new Date(letters[letters.length - 1]!.time).toISOString()}` : "";
      process.stdout.write(`${st.total} dead letters of app ${app}${namespace ? ` in namespace ${namespace}` : ""}${span}\n\nby error and reason:\n`);
      for (const [r, n] of st.byReason) process.stdout.write(`  ${String(n).padStart(7)}  ${r}\n`);
      process.stdout.write(`\nby source subject:\n`);
      for (const [s, n] of st.bySubject) process.stdout.write(`  ${String(n).padStart(7)}  ${s}\n`);
      return 0;
    }
    if (action === "show") {
      for (const d of letters.slice(0, limit ?? 10)) {
        process.stdout.write(`#${d.seq}  ${new Date(d.time).toISOString()}\n`);
        for (const [k, v] of Object.entries(d.headers)) process.stdout.write(`  ${k}: ${v}\n`);
        process.stdout.write(`  payload: ${describePayload(d)}\n\n`);
      }
      process.stdout.write(`${Math.min(letters.length, limit ?? 10)} of ${letters.length} shown\n`);
      return 0;
    }
    if (limit) letters = letters.slice(0, limit);
    const r = await redrive(nc, app, letters);
    process.stdout.write(`${r.redriven} redriven, ${r.already} already redriven before, ${r.skipped} not events (failed timers, refused rows)\n`);
    return 0;
  });
}
