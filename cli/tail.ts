import { DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { ConfigError, CONTENT_TYPE_HEADER, decodePayload, describeError } from "../runtime/internal.ts";
import { commandOptions } from "./config.ts";
import { withNats } from "./nats.ts";
import { NATS_HELP, NATS_OPTIONS, parse, positiveInt, timeArg, UsageError } from "./options.ts";
import { onSignals } from "./signals.ts";

export const TAIL_HELP = `Usage: weir tail <subject> [options]

Prints the messages of a subject (wildcards allowed) as the stream that holds it stores them,
decoded (msgpack or JSON, by their content type) with their headers: an app's outputs, its dead
letters (weir.dlq.<app>), its input. Follows new ones until Ctrl-C, like tail -f.

Options:
${NATS_HELP}
  --last <n>             start with the last n stored messages (default 10)
  --all                  start with the first stored message
  --since <time>         start with the first message stored at or after this ISO time
  --no-follow            stop at the end of what is stored now
  --json                 one JSON object per message: seq, time, subject, headers, value
  -h, --help             this text
`;

const TAIL_OPTIONS = commandOptions("tail", {
  ...NATS_OPTIONS,
  last: { type: "string" },
  all: { type: "boolean" },
  since: { type: "string" },
  follow: { type: "boolean", default: true },
  json: { type: "boolean" },
});

/** The value of a message for printing: decoded when it decodes, else what it is. */
function valueOf(m: JsMsg): unknown {
  try {
    return decodePayload(m.data, m.headers?.get(CONTENT_TYPE_HEADER) || undefined);
  } catch (err) {
    return `(${m.data.length} bytes, not decodable: ${describeError(err)})`;
  }
}

export async function tailCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, TAIL_OPTIONS, "tail");
  if (values.help) {
    process.stdout.write(TAIL_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "tail needs a subject, e.g. weir tail 'weir.dlq.ledger'" : `tail takes one subject, got ${positionals.length}`);
  const subject = positionals[0]!;
  if (/\s/.test(subject)) throw new UsageError(`tail needs a subject without spaces, got "${subject}"`);
  const starts = [values.last !== undefined, Boolean(values.all), values.since !== undefined].filter(Boolean).length;
  if (starts > 1) throw new UsageError("give one of --last, --all and --since");
  const last = positiveInt("last", (values.last as string | undefined) ?? "10")!;
  const since = timeArg("since", values.since as string | undefined);

  return withNats(values, "weir-tail", async (nc) => {
    const jsm = await jetstreamManager(nc);
    const stream = await jsm.streams.find(subject).catch(() => {
      throw new ConfigError(`no stream stores subject ${subject} on this NATS`);
    });
    // Where to start: the first matching message, one by time, or (the last n) the first one and
    // the ones before the last n skipped here: how many match is what the stream's subject counts say.
    let skip = 0;
    let opts: Parameters<ReturnType<typeof jetstream>["consumers"]["get"]>[1] = { filter_subjects: subject, deliver_policy: DeliverPolicy.All };
    if (since !== undefined) opts = { ...opts, deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(since).toISOString() };
    else if (!values.all) {
      const info = await jsm.streams.info(stream, { subjects_filter: subject });
      const matching = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
      skip = Math.max(0, matching - last);
    }
    const consumer = await jetstream(nc).consumers.get(stream, opts);
    const initial = (await consumer.info()).num_pending;
    if (!values.follow && initial === 0) return 0;
    const iter = await consumer.consume({ max_messages: 256 });
    let stop = () => iter.stop();
    onSignals(() => stop());
    let seen = 0;
    for await (const m of iter) {
      seen++;
      if (seen <= skip) {
        if (!values.follow && seen >= initial) break;
        continue;
      }
      const headers: Record<string, string> = {};
      for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
      const time = new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString();
      const value = valueOf(m);
      if (values.json) process.stdout.write(`${JSON.stringify({ seq: m.seq, time, subject: m.subject, headers, value })}\n`);
      else {
        const h = Object.entries(headers).map(([k, v]) => `  ${k}: ${v}\n`).join("");
        process.stdout.write(`#${m.seq}  ${time}  ${m.subject}\n${h}  ${JSON.stringify(value)}\n`);
      }
      if (!values.follow && (m.info.pending === 0 || seen >= initial)) break;
    }
    stop = () => {};
    iter.stop();
    return 0;
  });
}
