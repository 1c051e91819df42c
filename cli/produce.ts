import { createReadStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describeError, schemaProducer } from "../runtime/mod.ts";
import { appInputOf, loadApp } from "../runtime/internal.ts";
import { createRegistry, kvRegistryStore } from "../schema-registry/mod.ts";
import { withNats } from "./nats.ts";
import { NATS_HELP, NATS_OPTIONS, parse, positiveInt, UsageError } from "./options.ts";
import { registryPort } from "./registry-port.ts";
import { commandOptions } from "./config.ts";

export const PRODUCE_HELP = `Usage: weir produce <subject> [options]

Reads JSON events (one per line) from --file or stdin, validates each against the latest
schema registered for <subject>-value (or a <pattern>-value whose pattern matches <subject>),
and publishes the valid ones with a Weir-Schema-Id header. Invalid lines are reported on
stderr with their line number and not published; the exit code is 1 if any line was invalid.

With --app, each event is published to the app's partitioned input (weir.in.<app>.<p>.<subject>,
one copy per distinct partition of its actors' keys), which the app's partitions read directly;
without it, to <subject>, which the app's repartition step copies into its partitions.

Options:
${NATS_HELP}
  --app <module.ts>      publish partitioned for this app (its actors' keys pick the partitions)
  --partitions <n>       the app's partition count (default: the one its state was made with
                         here, else the app's own)
  --file <path>          read events from this file instead of stdin
  --format <f>           msgpack (default) | json: the wire format
  --msg-id <field>       use this event field as Nats-Msg-Id (server-side dedup)
  -h, --help             this text
`;

const PRODUCE_OPTIONS = commandOptions("produce", {
      ...NATS_OPTIONS,
      file: { type: "string" },
      format: { type: "string", default: "msgpack" },
      "msg-id": { type: "string" },
      app: { type: "string" },
      partitions: { type: "string" },
    });

export async function produceCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, PRODUCE_OPTIONS, "produce");
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
  const partitions = positiveInt("partitions", values.partitions as string | undefined);
  const appPath = values.app as string | undefined;
  if (partitions !== undefined && appPath === undefined) throw new UsageError("--partitions needs --app (the app whose partitions to publish to)");
  if (appPath !== undefined && !existsSync(appPath)) throw new UsageError(`--app ${appPath} does not exist`);
  const app = appPath === undefined ? undefined : await loadApp(appPath);

  return withNats(values, "weir-produce", async (nc) => {
    let sent = 0;
    let invalid = 0;
    const port = registryPort(createRegistry({ store: await kvRegistryStore(nc) }));
    const input = app ? await appInputOf(nc, await jetstreamManager(nc), app, partitions) : undefined;
    const producer = schemaProducer(jetstream(nc), port, input ? { input } : {});
    const { id, registrySubject } = await producer.schemaFor(subject);
    const where = input ? `, publishing to the ${input.partitions} partitions of app ${app!.name}` : "";
    process.stderr.write(`weir: validating against schema ${id} (${registrySubject})${where}\n`);
    const lines = file ? createReadStream(file) : process.stdin;
    let lineNo = 0;
    const pending: Promise<unknown>[] = [];
    const live = process.stderr.isTTY ? setInterval(() => process.stderr.write(`\r\x1b[2K${sent} published, ${invalid} invalid`), 500) : undefined;
    for await (const line of createInterface({ input: lines, crlfDelay: Infinity })) {
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

