import pkg from "../package.json" with { type: "json" };
import { describeError } from "../runtime/mod.ts";
import { configCommand } from "./config-command.ts";
import { dlqCommand } from "./dlq.ts";
import { mappingCommand } from "./mapping.ts";
import { produceCommand } from "./produce.ts";
import { registryCommand } from "./registry.ts";
import { replayCommand } from "./replay.ts";
import { runCommand } from "./run.ts";
import { statusCommand } from "./status.ts";
import { tailCommand } from "./tail.ts";
import { UsageError, whereFrom } from "./options.ts";

const HELP = `weir ${pkg.version} — keyed actors on NATS JetStream

Usage:
  weir run <app-module.ts> [options]   run an app (a module that exports default defineApp(...))
  weir registry [options]              serve the schema registry (Confluent-compatible HTTP API)
  weir produce <subject> [options]     validate JSON events against the registry and publish them
  weir replay <app-module.ts> --from <seq|time> --into <namespace>
                                       reprocess a range of the input into a namespace
  weir dlq stats|show|redrive <app>    dead-letter triage: counts, samples, send again once
  weir status <app>                    rates, lag, watermark, dead letters, instances, and per
                                       partition owner, epoch, stored position
  weir tail <subject>                  print a subject's messages decoded (outputs, dead letters), and follow
  weir mapping <app-module.ts>         the nats-server mappings that partition the app's input
  weir config [command]                the settings a command runs with, and where each comes from
  weir --help                          this text (also: weir run --help)
  weir --version                       print the version

Run 'weir <command> --help' for the options of a command. Every option can also be set in a
config file (--config <file>, $WEIR_CONFIG, or ./weir.toml) and as WEIR_<OPTION> in the
environment; flags win over the environment, and both over the file (see weir config --help).
`;

/** Runs the command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (err) {
    // One line, no stack: bad input is the user's to fix, and the message says how.
    process.stderr.write(`weir: ${whereFrom(describeError(err))}\n`);
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
  if (cmd === "run") return runCommand(rest);
  if (cmd === "replay") return replayCommand(rest);
  if (cmd === "registry") return registryCommand(rest);
  if (cmd === "produce") return produceCommand(rest);
  if (cmd === "dlq") return dlqCommand(rest);
  if (cmd === "status") return statusCommand(rest);
  if (cmd === "mapping") return mappingCommand(rest);
  if (cmd === "config") return configCommand(rest);
  if (cmd === "tail") return tailCommand(rest);
  throw new UsageError(`unknown command "${cmd}" (try weir --help)`);
}
