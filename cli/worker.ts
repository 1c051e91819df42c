// The workers' entry module. The compiled binary's second entry point: `bun build --compile
// cli/main.ts cli/worker.ts` puts it beside the first, where the worker pool looks for `./worker.ts`
// relative to the binary; run from source, the CLI names it as the runtime's `workerEntry`.
// It installs the schema registry (read from NATS, as the main thread's is) the workers check
// events published straight to a partition with.
import { useSchemaRegistry } from "../runtime/workers/worker.ts";
import { createRegistry, kvRegistryStore } from "../schema-registry/mod.ts";
import { registryPort } from "./registry-port.ts";

useSchemaRegistry(async (nc) => registryPort(createRegistry({ store: await kvRegistryStore(nc) })));
