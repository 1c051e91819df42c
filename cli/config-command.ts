import { commandNames, fileKey, optionsOf, shown } from "./config.ts";
import { parse, UsageError } from "./options.ts";

export const CONFIG_HELP = `Usage: weir config [command] [options of that command]

Prints the settings a command would run with (default: run), each with where it comes from: a
flag, an environment variable (WEIR_<OPTION>, e.g. WEIR_LOG_LEVEL, WEIR_NATS_PASSWORD), the config
file, or the default. Secrets are shown as ***. The output is in the config file's own format.

The config file is --config <file>, else $WEIR_CONFIG, else ./weir.toml when there is one (TOML):

  workers = 2
  log_level = "info"
  [nats]
  url = "tls://nats.example.com:4222"
  creds = "/etc/weir/app.creds"
  [registry]
  http = "0.0.0.0:8081"

Top-level keys are options of any command that takes them, [nats] the connection, and a table
named after a command holds options for that command only. Later layers win: default, file,
environment, flag. Unknown keys and wrong types are errors that name the key and the file.

Options:
  --config <file>        the config file
  -h, --help             this text
`;

export async function configCommand(args: string[]): Promise<number> {
  const first = args[0];
  if (first === undefined || first === "-h" || first === "--help" || first.startsWith("-")) {
    if (first === "-h" || first === "--help") {
      process.stdout.write(CONFIG_HELP);
      return 0;
    }
    return show("run", args);
  }
  return show(first, args.slice(1));
}

function show(command: string, args: string[]): number {
  const spec = optionsOf(command);
  if (!spec) throw new UsageError(`config: no command "${command}" (one of ${commandNames().join(", ")})`);
  // The command's own parse: its flags are checked as the command would check them.
  const { layers } = parse(args.filter((a) => a !== "--no-http"), spec, command);
  if (!layers) {
    process.stdout.write(CONFIG_HELP);
    return 0;
  }
  const lines = (nats: boolean) =>
    Object.keys(spec)
      .filter((k) => fileKey(k).startsWith("nats.") === nats)
      .map((k) => {
        const src = layers.sources[k];
        const from = !src ? "not set" : src.where ? `${src.from} ${src.where}` : src.from;
        return `${fileKey(k).replace(/^nats\./, "").padEnd(16)} = ${shown(k, layers.values[k]).padEnd(34)} # ${from}`;
      });
  process.stdout.write(`# weir ${command}${layers.file ? `, config file ${layers.file}` : ", no config file"}\n${lines(false).join("\n")}\n\n[nats]\n${lines(true).join("\n")}\n`);
  return 0;
}
