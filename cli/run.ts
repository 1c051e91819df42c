import { appNames, DEFAULTS, kvViews, partitionMappings } from "../runtime/internal.ts";
import { registryApi } from "../schema-registry/mod.ts";
import { driveApp } from "./drive-app.ts";
import { cliLog } from "./log.ts";
import { natsTargetFrom } from "./nats.ts";
import { serveHttp } from "./http.ts";
import { APP_OPTIONS, appArgs, listenAddress, NATS_HELP, parse, UsageError } from "./options.ts";
import { opsApi } from "./ops-api.ts";
import { uiApi } from "./ui.ts";
import { viewsApi } from "./views-api.ts";
import { commandOptions } from "./config.ts";

export const RUN_HELP = `Usage: weir run <app-module.ts> [options]

Runs the app's actors on its input stream until SIGINT/SIGTERM, then snapshots and exits.
State is snapshotted while it runs; after a crash (even kill -9), run it again: it resumes exactly.

Options:
${NATS_HELP}
                         Without a server named, weir starts its own nats-server (JetStream,
                         data in --data-dir) or reuses the one it left running.
  --workers <n>          worker threads (default: number of cores)
  --partitions <n>       partition count (default: the app's, else ${DEFAULTS.partitions}; fixed once state exists)
  --max-in-flight <n>    most messages read and not yet applied (default ${DEFAULTS.maxInFlight})
  --log-level <level>    debug | info | warn | error (default ${DEFAULTS.logLevel})
  --log-format <f>       text (default) | json: one JSON object per log line
  --progress             live counter line on stderr (the default when stderr is a terminal;
                         never written anywhere else)
  --no-progress          no counter line
  --http <host:port>     where the metrics, health, views and schema registry API are served
                         (default ${DEFAULTS.http}; a port that is taken is an error: pick another,
                         or 127.0.0.1:0 for a free one)
  --no-http              do not serve HTTP at all
  --no-metrics           measure no latencies, handler durations or sizes (counts are kept)
  --registry-token <t>   bearer token required for registry writes (or WEIR_REGISTRY_TOKEN);
                         without one, serving on a non-loopback address is warned about
  --protect-reads        require the token for reads too: views, /metrics, /ui and registry reads
                         (/healthz and /readyz stay open)
  --no-registry          do not register input schemas nor validate Weir-Schema-Id headers
  --sink <url>           SQL sink for apps that declare tables: sqlite:<path> (default
                         sqlite:<data-dir>/out.db) or postgres://host/db[?schema=name]
  --lock-ttl <ms>        instances of an app share its partitions under leases renewed every
                         third of this; a killed instance's partitions move to the others
                         this long after its last renewal (default ${DEFAULTS.lockTtlMs})
  --server-mapping       the embedded nats-server partitions the app's input itself (subject
                         mappings, for apps keyed by a subject token): producers publish as they
                         always did, and the app reads without the repartition step. Kept in
                         --data-dir until a run without it; see weir mapping for your own server
  --retention-max-age <d>, --retention-max-bytes <size>
                         what the streams weir creates keep, the oldest going first (default
                         7d and 1GiB: the input, the outputs and the dead letters each, the
                         partitions' streams between them; 0 for no limit). Existing streams
                         are never changed (a line says where theirs differ). Events that age
                         out before they are processed are lost: size it for your backlog
  --replicas <n>         replicas of the streams and buckets weir creates (default
                         ${DEFAULTS.replicas}; 3 on a 3-node cluster); existing ones are kept
  -h, --help             this text

Schemas: each actor's input schema (from its zod event schema) is registered under
<input-subject>-value before anything is consumed; if the registry refuses it as incompatible,
run exits 1 with the registry's reasons. Events with a Weir-Schema-Id header that do not match
that schema go to the dead-letter subject with the validation error as their reason.
`;

const RUN_OPTIONS = commandOptions("run", {
  ...APP_OPTIONS,
  http: { type: "string", default: DEFAULTS.http },
  "registry-token": { type: "string" },
  "protect-reads": { type: "boolean" },
  "server-mapping": { type: "boolean" },
});

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

export async function runCommand(argv: string[]): Promise<number> {
  // parseArgs negates only boolean options; --http is a string, so --no-http is taken out by hand.
  const noHttp = argv.includes("--no-http");
  const { values, positionals } = parse(argv.filter((a) => a !== "--no-http"), RUN_OPTIONS, "run");
  if (values.help) {
    process.stdout.write(RUN_HELP);
    return 0;
  }
  const options = appArgs(values, positionals, "run");
  const http = noHttp ? undefined : listenAddress(String(values.http));
  const token = (values["registry-token"] as string | undefined) ?? process.env.WEIR_REGISTRY_TOKEN;
  const protectReads = Boolean(values["protect-reads"]);
  if (protectReads && !token) throw new UsageError("--protect-reads needs --registry-token (or WEIR_REGISTRY_TOKEN)");
  const mapped = Boolean(values["server-mapping"]);
  if (mapped && natsTargetFrom(values)) {
    throw new UsageError("--server-mapping sets up the embedded nats-server; for a server of your own, put what `weir mapping <app>` prints in its config");
  }
  return driveApp(values, options, {
    async started(rt, registry, cliNc, embedded) {
      if (embedded) {
        // Set once the app is up: its partition count is then the one its state was made with.
        const mappings = mapped ? partitionMappings(rt.app, rt.metrics().partitions) : undefined;
        if (await embedded.mapInput(rt.app.name, mappings)) {
          cliLog.info(
            mappings
              ? `weir: the embedded nats-server now partitions ${mappings.map((m) => m.from).join(", ")} into app ${rt.app.name}'s partitions`
              : `weir: the embedded nats-server no longer partitions app ${rt.app.name}'s input (the repartition step does)`,
          );
        }
      }
      if (!http) return undefined;
      if (!token && !LOOPBACK.has(http.hostname)) {
        cliLog.warn(`serving HTTP on ${http.hostname}:${http.port} without a token: whoever reaches it can read the views and metrics and write to the registry (set --registry-token, and --protect-reads for reads)`);
      }
      // The app's views are served beside the registry, read from the same NATS.
      const names = rt.app.views ?? [];
      const views = names.length && cliNc ? viewsApi(await kvViews(cliNc, appNames(rt.app.name).views), names) : undefined;
      return serveHttp(
        { ops: opsApi(rt), ui: uiApi(rt), ...(registry ? { registry: registryApi(registry, token ? { token, protectReads } : {}) } : {}), ...(views ? { views } : {}) },
        http,
        true,
        token ? { token, protectReads } : undefined,
      );
    },
  });
}

