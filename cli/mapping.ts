import { loadApp, mappingConfig, partitionMappings, partitionsOf } from "../runtime/internal.ts";
import { parse, positiveInt, UsageError } from "./options.ts";
import { commandOptions } from "./config.ts";

export const MAPPING_HELP = `Usage: weir mapping <app-module.ts> [options]

Prints the nats-server configuration block (subject mappings) that partitions the app's input on
the server itself: each event published to an input subject is stored under the app's partitioned
subject, weir.in.<app>.<p>.<subject>, with p = partition(n, key token), the same FNV-1a hash as
partitionOf. Put it in your server's config (in the account the app uses) and reload it; producers
keep publishing the subjects they always did, and the app reads without the repartition step.
Only for apps whose actors are keyed by a subject token. (weir run --server-mapping does this for
the embedded server.) The mapping moves those subjects for every subscriber of the server.

Options:
  --partitions <n>       the app's partition count (default: the app's own, else 32); it must be
                         the count the app runs with
  -h, --help             this text
`;

const MAPPING_OPTIONS = commandOptions("mapping", { partitions: { type: "string" } });

export async function mappingCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, MAPPING_OPTIONS, "mapping");
  if (values.help) {
    process.stdout.write(MAPPING_HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "mapping needs an app module, e.g. weir mapping ./apps/user-totals/main.ts" : `mapping takes one app module, got ${positionals.length}`);
  }
  const app = await loadApp(positionals[0]!);
  const partitions = partitionsOf(app, positiveInt("partitions", values.partitions as string | undefined));
  process.stdout.write(mappingConfig(partitionMappings(app, partitions)));
  return 0;
}
