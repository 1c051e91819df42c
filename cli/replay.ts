import { appNames, DEFAULTS, LIVE, NAMESPACE_PATTERN } from "../runtime/internal.ts";
import { driveApp } from "./drive-app.ts";
import { APP_OPTIONS, appArgs, NATS_HELP, parse, UsageError } from "./options.ts";
import { commandOptions } from "./config.ts";

export const REPLAY_HELP = `Usage: weir replay <app-module.ts> --from <seq|time> [--to <seq|time>] --into <namespace> [options]

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
${NATS_HELP}
  --sink <url>           SQL sink (default sqlite:<data-dir>/out.db), as for weir run
  --workers <n>          worker threads (default: number of cores)
  --partitions <n>       partition count (default: the app's)
  --max-in-flight <n>    most messages read and not yet applied (default ${DEFAULTS.maxInFlight})
  --log-level <level>    debug | info | warn | error (default ${DEFAULTS.logLevel})
  --log-format <f>       text (default) | json: one JSON object per log line
  --progress             live counter line on stderr (the default when stderr is a terminal)
  --no-registry          do not validate Weir-Schema-Id headers
  --lock-ttl <ms>        as for weir run (a replay into live is refused while the live app runs)
  --replicas <n>         as for weir run (the namespace's streams and buckets)
  -h, --help             this text

Processing-time timers and early window results depend on the wall clock: they are the only
outputs a replay does not reproduce exactly.
`;

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

const REPLAY_OPTIONS = commandOptions("replay", { ...APP_OPTIONS, from: { type: "string" }, to: { type: "string" }, into: { type: "string" } });

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, REPLAY_OPTIONS, "replay");
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

