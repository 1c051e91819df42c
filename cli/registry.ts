import { DEFAULTS } from "../runtime/mod.ts";
import { createRegistry, kvRegistryStore, registryApi } from "../schema-registry/mod.ts";
import { serveHttp, type HttpServer } from "./http.ts";
import { withNats } from "./nats.ts";
import { listenAddress, NATS_HELP, NATS_OPTIONS, parse, positiveInt, UsageError } from "./options.ts";
import { onSignals } from "./signals.ts";
import { commandOptions } from "./config.ts";

export const REGISTRY_HELP = `Usage: weir registry [options]

Serves the schema registry (Confluent Schema Registry REST API: JSON Schema, compatibility
levels, modes) until SIGINT/SIGTERM. Schemas live in the JetStream KV bucket weir_registry, so
every registry process (and every weir run) on the same NATS shares them.

Options:
${NATS_HELP}
  --http <host:port>     listen address (default ${DEFAULTS.http}; port 0 picks a free one)
  --token <t>            bearer token required for writes (or WEIR_REGISTRY_TOKEN)
  --protect-reads        require the token for reads too
  --max-body <bytes>     largest request body (default ${DEFAULTS.registryMaxBodyBytes}); larger ones get 413
  -h, --help             this text
`;

const REGISTRY_OPTIONS = commandOptions("registry", {
      ...NATS_OPTIONS,
      http: { type: "string", default: DEFAULTS.http },
      token: { type: "string" },
      "protect-reads": { type: "boolean", default: false },
      "max-body": { type: "string" },
    });

export async function registryCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, REGISTRY_OPTIONS, "registry");
  if (values.help) {
    process.stdout.write(REGISTRY_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`registry takes no arguments, got "${positionals[0]}" (try weir registry --help)`);
  const listen = listenAddress(String(values.http));
  const maxBodyBytes = positiveInt("max-body", values["max-body"] as string | undefined);
  const token = (values.token as string | undefined) ?? process.env.WEIR_REGISTRY_TOKEN;
  if (values["protect-reads"] && !token) throw new UsageError("--protect-reads needs --token (or WEIR_REGISTRY_TOKEN)");

  return withNats(values, "weir-registry", async (nc) => {
    let api: HttpServer | undefined;
    try {
      const registry = createRegistry({ store: await kvRegistryStore(nc) });
      const options = { ...(token ? { token } : {}), protectReads: Boolean(values["protect-reads"]), maxBodyBytes: maxBodyBytes ?? DEFAULTS.registryMaxBodyBytes };
      api = serveHttp({ registry: registryApi(registry, options) }, listen, true);
      // Signals are handled before the address is out: a tool that reads it may stop us at once.
      const stopped = new Promise<void>((resolve) => onSignals(() => resolve()));
      // Tools that start a registry on port 0 read the address from this line.
      process.stdout.write(`${api!.url}\n`);
      await stopped;
      return 0;
    } finally {
      await api?.stop();
    }
  }, { waitForNats: true });
}

