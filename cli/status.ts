import { jetstreamManager } from "@nats-io/jetstream";
import { appNames, appStatus, ConfigError, loadApp } from "../runtime/internal.ts";
import { withNats } from "./nats.ts";
import { NATS_HELP, NATS_OPTIONS, parse, UsageError } from "./options.ts";
import { commandOptions } from "./config.ts";

export const STATUS_HELP = `Usage: weir status <app> [options]

Shows the instances running an app and, per partition, the instance that owns it, its lease's
fencing epoch, the stream sequence its stored state reaches and how many input messages lie
after it (what a new owner would read again). Reads only; changes nothing.

<app> is the app's name or its module path (a module also finds an input stream the app binds
to by subject). Options:
${NATS_HELP}
  --json                 the status as one JSON object
  -h, --help             this text
`;

const STATUS_OPTIONS = commandOptions("status", { ...NATS_OPTIONS, json: { type: "boolean" } });

export async function statusCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, STATUS_OPTIONS, "status");
  if (values.help) {
    process.stdout.write(STATUS_HELP);
    return 0;
  }
  const [appArg, ...extra] = positionals;
  if (!appArg) throw new UsageError("status needs an app name or module (try weir status --help)");
  if (extra.length) throw new UsageError(`status takes one app, got "${extra.join(" ")}" too`);
  const def = /\.(ts|js|mjs)$/.test(appArg) ? await loadApp(appArg) : undefined;
  const app = def?.name ?? appArg;
  return withNats(values, "weir-status", async (nc) => {
    // A module's input may live in a stream the app binds to by subject rather than its own.
    const subject = def?.actors[0]?.input[0];
    const input = subject ? await (await jetstreamManager(nc)).streams.find(subject).catch(() => appNames(app).input) : appNames(app).input;
    const st = await appStatus(nc, app, input);
    if (!st) throw new ConfigError(`app ${app} has no state on this NATS (no bucket ${appNames(app).bucket}): has it ever run here?`);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(st)}\n`);
      return 0;
    }
    const out: string[] = [];
    out.push(`app ${st.app}: ${st.partitions} partitions, ${st.members.length} instance${st.members.length === 1 ? "" : "s"} running${st.inputSeq !== undefined ? `, input at sequence ${st.inputSeq} (repartitioned through ${st.repartitioned})` : ""}`);
    for (const m of st.members) {
      const owns = st.perPartition.filter((p) => p.owner === m.id).length;
      out.push(`  ${m.id}  on ${m.host}, ${m.capacity} worker${m.capacity === 1 ? "" : "s"}, since ${new Date(m.since).toISOString()}, owns ${owns}`);
    }
    out.push("", "partition  owner                                  epoch   stored seq   behind   stored at");
    for (const p of st.perPartition) {
      out.push(
        `${String(p.partition).padStart(9)}  ${(p.owner ?? "-").padEnd(37)}  ${String(p.epoch ?? "-").padStart(5)}  ${String(p.storedSeq).padStart(11)}  ${String(p.behind ?? "?").padStart(7)}   ${p.savedAt ? new Date(p.savedAt).toISOString() : "-"}`,
      );
    }
    process.stdout.write(`${out.join("\n")}\n`);
    return 0;
  });
}
