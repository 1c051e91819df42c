import { appNames, ConfigError, deadLetterCounter, describeError, describePayload, loadApp, NAMESPACE_PATTERN, redrive, scanDeadLetters, type DeadLetter, type DeadLetterScan } from "../runtime/internal.ts";
import { withNats } from "./nats.ts";
import { NATS_HELP, NATS_OPTIONS, parse, positiveInt, timeArg, UsageError } from "./options.ts";
import { commandOptions } from "./config.ts";

export const DLQ_HELP = `Usage: weir dlq <stats|show|redrive> <app> [options]

  stats     counts of dead letters by error class and reason, and by source subject
  show      dead letters with their headers and decoded payloads
  redrive   publishes the selected dead letters to their original subjects again (after a fix);
            each one at most once, however often redrive runs (failed timers, and rows and
            outputs the database or the broker refused, are not events: they are skipped)

<app> is the app's name or its module path. Options:
${NATS_HELP}
  --since <time>         only dead letters stored at or after this ISO time (or ms since the epoch)
  --until <time>         ... and at or before this one
  --error <class>        only this error class (e.g. HandlerError, ValidationError)
  --subject <pattern>    only dead letters from source subjects matching this pattern
  --limit <n>            show/redrive at most n (default: show 10, redrive all)
  --namespace <ns>       stats/show: the dead letters of a replay namespace (weir replay --into)
  -h, --help             this text
`;

const DLQ_OPTIONS = commandOptions("dlq", {
      ...NATS_OPTIONS,
      since: { type: "string" },
      until: { type: "string" },
      error: { type: "string" },
      subject: { type: "string" },
      limit: { type: "string" },
      namespace: { type: "string" },
    });

export async function dlqCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, DLQ_OPTIONS, "dlq");
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

  return withNats(values, "weir-dlq", async (nc) => {
    const stream = appNames(app, namespace).dlq;
    // A counter on a terminal while a big stream is read.
    const progress = process.stderr.isTTY ? (n: number, of: number) => process.stderr.write(`\r\x1b[2Kreading ${stream}: ${n} of ${of}`) : undefined;
    const scan = async (visit: (d: DeadLetter) => boolean | void) => {
      const s = await scanDeadLetters(nc, app, filter, visit, progress ? { onProgress: progress } : {}).catch((err) => {
        throw new ConfigError(`cannot read the dead letters of app ${app} (stream ${stream}): ${describeError(err)}`, { cause: err });
      });
      if (progress) process.stderr.write("\r\x1b[2K");
      return s;
    };
    const readLine = (s: DeadLetterScan) => `(read ${s.read} message${s.read === 1 ? "" : "s"} of stream ${s.stream}${since !== undefined ? ` from ${new Date(since).toISOString()}` : ""})`;
    if (action === "stats") {
      const counter = deadLetterCounter();
      let first: number | undefined;
      let last: number | undefined;
      const s = await scan((d) => {
        counter.add(d);
        first ??= d.time;
        last = d.time;
      });
      const st = counter.result();
      const span = first !== undefined ? ` from ${new Date(first).toISOString()} to ${new Date(last!).toISOString()}` : "";
      process.stdout.write(`${st.total} dead letters of app ${app}${namespace ? ` in namespace ${namespace}` : ""}${span} ${readLine(s)}\n\nby error and reason:\n`);
      for (const [r, n] of st.byReason) process.stdout.write(`  ${String(n).padStart(7)}  ${r}\n`);
      process.stdout.write(`\nby source subject:\n`);
      for (const [s, n] of st.bySubject) process.stdout.write(`  ${String(n).padStart(7)}  ${s}\n`);
      return 0;
    }
    if (action === "show") {
      const shown: DeadLetter[] = [];
      const want = limit ?? 10;
      // Every matching one is counted; the first `want` are shown.
      const s = await scan((d) => void (shown.length < want && shown.push(d)));
      for (const d of shown) {
        process.stdout.write(`#${d.seq}  ${new Date(d.time).toISOString()}\n`);
        for (const [k, v] of Object.entries(d.headers)) process.stdout.write(`  ${k}: ${v}\n`);
        process.stdout.write(`  payload: ${describePayload(d)}\n\n`);
      }
      process.stdout.write(`${shown.length} of ${s.matched} shown ${readLine(s)}\n`);
      return 0;
    }
    const letters: DeadLetter[] = [];
    await scan((d) => {
      letters.push(d);
      return limit === undefined || letters.length < limit;
    });
    const r = await redrive(nc, app, letters);
    process.stdout.write(`${r.redriven} redriven, ${r.already} already redriven before, ${r.skipped} not events (failed timers, refused rows and outputs)\n`);
    return 0;
  });
}
