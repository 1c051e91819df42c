import { jetstreamManager } from "@nats-io/jetstream";
import { appNames, appStatus, ConfigError, loadApp } from "../runtime/internal.ts";
import { withNats } from "./nats.ts";
import { NATS_HELP, NATS_OPTIONS, parse, UsageError } from "./options.ts";
import { commandOptions } from "./config.ts";

export const STATUS_HELP = `Usage: weir status <app> [options]

Shows the instances running an app, its rates (messages in, stored as applied, out: measured
over --interval), its lag, watermark and its age, its dead letters, and per partition the
instance that owns it, its lease's fencing epoch, the stream sequence its stored state reaches,
how many messages lie after it (what a new owner would read again) and its watermark. Read from
what is stored (snapshots every second or so); reads only, changes nothing.

<app> is the app's name or its module path (a module also finds an input stream the app binds
to by subject). Options:
${NATS_HELP}
  --interval <seconds>   how long the rates are measured over (default 1; 0: no rates)
  --json                 the status as one JSON object
  -h, --help             this text
`;

const STATUS_OPTIONS = commandOptions("status", { ...NATS_OPTIONS, json: { type: "boolean" }, interval: { type: "string", default: "1" } });

export async function statusCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, STATUS_OPTIONS, "status");
  if (values.help) {
    process.stdout.write(STATUS_HELP);
    return 0;
  }
  const [appArg, ...extra] = positionals;
  if (!appArg) throw new UsageError("status needs an app name or module (try weir status --help)");
  if (extra.length) throw new UsageError(`status takes one app, got "${extra.join(" ")}" too`);
  const interval = Number(values.interval);
  if (!Number.isFinite(interval) || interval < 0 || interval > 600) throw new UsageError(`--interval must be a number of seconds in 0..600, got "${values.interval}"`);
  const intervalMs = interval * 1000;
  const def = /\.(ts|js|mjs)$/.test(appArg) ? await loadApp(appArg) : undefined;
  const app = def?.name ?? appArg;
  return withNats(values, "weir-status", async (nc) => {
    // A module's input may live in a stream the app binds to by subject rather than its own.
    const subject = def?.actors[0]?.input[0];
    const input = subject ? await (await jetstreamManager(nc)).streams.find(subject).catch(() => appNames(app).input) : appNames(app).input;
    const first = await appStatus(nc, app, input);
    if (!first) throw new ConfigError(`app ${app} has no state on this NATS (no bucket ${appNames(app).bucket}): has it ever run here?`);
    // Rates: the same figures again after the interval.
    const t0 = Date.now();
    if (intervalMs > 0) await Bun.sleep(intervalMs);
    const st = intervalMs > 0 ? ((await appStatus(nc, app, input)) ?? first) : first;
    const secs = (Date.now() - t0) / 1000;
    const rate = (a: number | undefined, b: number | undefined) => (intervalMs > 0 && a !== undefined && b !== undefined ? Math.max(0, (b - a) / secs) : undefined);
    const rates = {
      in: rate(first.inputSeq, st.inputSeq),
      applied: rate(first.stored, st.stored),
      out: rate(first.outputs?.lastSeq, st.outputs?.lastSeq),
      deadLetters: rate(first.deadLetters, st.deadLetters),
    };
    const now = Date.now();
    const full = { ...st, ...(intervalMs > 0 ? { rates, intervalSeconds: secs } : {}), ...(st.watermark !== undefined ? { watermarkAgeMs: now - st.watermark } : {}) };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(full)}\n`);
      return 0;
    }
    const n = (x: number | undefined) => (x === undefined ? "-" : x >= 100 ? Math.round(x).toString() : x.toFixed(1));
    const out: string[] = [];
    out.push(`app ${st.app}: ${st.partitions} partitions, ${st.members.length} instance${st.members.length === 1 ? "" : "s"} running${st.inputSeq !== undefined ? `, input at sequence ${st.inputSeq} (repartitioned through ${st.repartitioned})` : ""}`);
    if (intervalMs > 0) out.push(`  rates over ${secs.toFixed(1)} s: in ${n(rates.in)}/s, applied and stored ${n(rates.applied)}/s, out ${n(rates.out)}/s, dead letters ${n(rates.deadLetters)}/s`);
    out.push(
      `  lag ${st.behind} (stored state behind the partitions' streams), dead letters ${st.deadLetters}, outputs ${st.outputs?.messages ?? 0}` +
        `, watermark ${st.watermark !== undefined ? `${new Date(st.watermark).toISOString()} (${((now - st.watermark) / 1000).toFixed(1)} s behind the clock)` : "none yet"}`,
    );
    for (const m of st.members) {
      const owns = st.perPartition.filter((p) => p.owner === m.id).length;
      out.push(`  ${m.id}  on ${m.host}, ${m.capacity} worker${m.capacity === 1 ? "" : "s"}, since ${new Date(m.since).toISOString()}, owns ${owns}`);
    }
    out.push("", "partition  owner                                  epoch   stored seq   behind   stored at                  watermark");
    for (const p of st.perPartition) {
      out.push(
        `${String(p.partition).padStart(9)}  ${(p.owner ?? "-").padEnd(37)}  ${String(p.epoch ?? "-").padStart(5)}  ${String(p.storedSeq).padStart(11)}  ${String(p.behind ?? "?").padStart(7)}   ${(p.savedAt ? new Date(p.savedAt).toISOString() : "-").padEnd(24)}   ${p.watermark !== undefined ? new Date(p.watermark).toISOString() : "-"}`,
      );
    }
    process.stdout.write(`${out.join("\n")}\n`);
    return 0;
  });
}
