import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { describeError, WeirError } from "./errors.ts";
import type { LogLevel } from "./log.ts";
import { startEmbeddedNats, type NatsServer } from "./nats-server.ts";
import { progressLine } from "./progress.ts";
import { startRuntime } from "./runtime.ts";

const HELP = `weir ${pkg.version} — keyed actors on NATS JetStream

Usage:
  weir run <app-module.ts> [options]   run an app (a module that exports default defineApp(...))
  weir --help                          this text (also: weir run --help)
  weir --version                       print the version

Run 'weir run --help' for the options of run.
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
  throw new UsageError(`unknown command "${cmd}" (try weir --help)`);
}

async function run(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      allowNegative: true,
      options: {
        nats: { type: "string" },
        "data-dir": { type: "string", default: ".weir" },
        workers: { type: "string" },
        partitions: { type: "string" },
        "max-in-flight": { type: "string" },
        "log-level": { type: "string", default: "info" },
        progress: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new UsageError(`${describeError(err)} (try weir run --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? "run needs an app module, e.g. weir run ./apps/user-totals/main.ts" : `run takes one app module, got ${positionals.length}`,
    );
  }
  const level = values["log-level"] as LogLevel;
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LEVELS.join(", ")}, got "${level}"`);
  }
  const workers = positiveInt("workers", values.workers);
  const partitions = positiveInt("partitions", values.partitions);
  const maxInFlight = positiveInt("max-in-flight", values["max-in-flight"]);

  let embedded: NatsServer | undefined;
  let url = values.nats;
  if (!url) {
    const srv = await startEmbeddedNats(values["data-dir"]!);
    embedded = srv;
    url = srv.url;
    process.stderr.write(`weir: ${srv.reused ? "reusing" : "started"} embedded nats-server at ${url} (data in ${values["data-dir"]})\n`);
  }
  const rt = await startRuntime({
    app: positionals[0]!,
    nats: url,
    logLevel: level,
    ...(workers ? { workers } : {}),
    ...(partitions ? { partitions } : {}),
    ...(maxInFlight ? { maxInFlight } : {}),
  }).catch(async (err) => {
    await embedded?.stop();
    throw err;
  });

  const showProgress = values.progress ?? Boolean(process.stderr.isTTY);
  const line = progressLine();
  const timer = showProgress
    ? setInterval(() => process.stderr.write(`\r\x1b[2K${line(rt.metrics())}`), 1000)
    : undefined;

  let signals = 0;
  const onSignal = (sig: string) => {
    if (++signals > 1) process.exit(130);
    process.stderr.write(`\nweir: ${sig}: finishing in-flight work and snapshotting (again to force quit)\n`);
    rt.stop().catch(() => {});
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  try {
    await rt.done;
    return 0;
  } catch (err) {
    process.stderr.write(`weir: ${describeError(err)}\n`);
    return 1;
  } finally {
    if (timer) clearInterval(timer);
    if (showProgress) process.stderr.write(`\r\x1b[2K${line(rt.metrics())}\n`);
    await embedded?.stop();
  }
}
