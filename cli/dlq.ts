import { appNames, ConfigError, deadLetterStats, describeError, describePayload, loadApp, NAMESPACE_PATTERN, readDeadLetters, redrive } from "../runtime/internal.ts";
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
    process.stdout.write(`${r.redriven} redriven, ${r.already} already redriven before, ${r.skipped} not events (failed timers, refused rows and outputs)\n`);
    return 0;
  });
}

