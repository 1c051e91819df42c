import type { NatsConnection } from "@nats-io/nats-core";
import { describeError, startRuntime, type Runtime, type RuntimeOptions } from "../runtime/mod.ts";
import { connectNats, DEFAULTS, loadApp, resolveConfig, type EmbeddedNats } from "../runtime/internal.ts";
import { cliLog, useCliLogger } from "./log.ts";
import { createRegistry, kvRegistryStore, type Registry } from "../schema-registry/mod.ts";
import { natsFor } from "./nats.ts";
import type { AppValues } from "./options.ts";
import { progressLine } from "./progress.ts";
import { registryPort } from "./registry-port.ts";
import { onSignals } from "./signals.ts";

/** The workers' entry (cli/worker.ts; in the compiled binary, the build's second entry point of that name). */
const WORKER_ENTRY = new URL("./worker.ts", import.meta.url).href;

/**
 * Starts an app (the embedded nats-server and the registry as asked), shows progress, and returns
 * the exit code once `until(runtime)` settles and the runtime has stopped. SIGINT/SIGTERM stop it
 * cleanly (a second one force-quits).
 */
export async function driveApp(
  values: AppValues,
  options: Omit<RuntimeOptions, "nats" | "registry">,
  hooks: {
    /** Once the app is up (e.g. to serve its API); returns what to stop at the end. A throw stops the app. */
    started?: (rt: Runtime, registry: Registry | undefined, cliNc: NatsConnection | undefined, embedded: EmbeddedNats | undefined) => Promise<{ stop(): Promise<void> } | undefined>;
    /** What the command waits for before stopping (default: the runtime stopping). */
    until?: (rt: Runtime) => Promise<void>;
    /** Last words on stdout after a clean stop. */
    summary?: (rt: Runtime) => string;
  } = {},
): Promise<number> {
  useCliLogger({ level: options.logLevel ?? DEFAULTS.logLevel, format: options.logFormat ?? DEFAULTS.logFormat });
  // The settings are checked before anything connects: a bad one is said at once, not after NATS is waited for.
  resolveConfig(await loadApp(options.app), options);
  const { target, embedded } = await natsFor(values);
  let cliNc: NatsConnection | undefined;
  let extra: { stop(): Promise<void> } | undefined;
  const cleanup = async () => {
    await extra?.stop();
    await cliNc?.close();
    // Another app on the same data directory may use it still.
    await embedded?.release();
  };
  // Signals are handled from here on: one that arrives while the app is still starting stops it as
  // soon as it is up, instead of killing the process mid-start.
  let rt: Runtime | undefined;
  let stopAsked = false;
  onSignals((sig) => {
    cliLog.info(`${sig}: finishing in-flight work and snapshotting (again to force quit)`);
    stopAsked = true;
    rt?.stop().catch(() => {});
  });
  try {
    let registry: Registry | undefined;
    // The CLI's own connection: the registry's, and what the HTTP side reads (views).
    cliNc = await connectNats(target, values.registry ? "weir-registry" : "weir-cli", { wait: true, onWait: (line) => cliLog.warn(line) });
    if (values.registry) registry = createRegistry({ store: await kvRegistryStore(cliNc) });
    rt = await startRuntime({ ...options, nats: target, waitForNats: true, workerEntry: WORKER_ENTRY, ...(registry ? { registry: registryPort(registry) } : {}) });
    // Started once the app is up, so a start-up failure stays a one-line error.
    extra = await hooks.started?.(rt, registry, cliNc, embedded);
  } catch (err) {
    await rt?.stop().catch(() => {});
    await cleanup();
    throw err;
  }
  const runtime = rt;
  if (stopAsked) runtime.stop().catch(() => {});

  // On a terminal only: a counter line among log lines that a file or a log shipper keeps is noise.
  const showProgress = Boolean(process.stderr.isTTY) && ((values.progress as boolean | undefined) ?? true);
  const line = progressLine();
  const timer = showProgress
    ? setInterval(() => process.stderr.write(`\r\x1b[2K${line(runtime.metrics())}`), 1000)
    : undefined;

  try {
    if (hooks.until) {
      await Promise.race([hooks.until(runtime), runtime.done]);
      await runtime.stop();
    }
    await runtime.done;
    if (showProgress) process.stderr.write(`\r\x1b[2K${line(runtime.metrics())}\n`);
    if (hooks.summary && !stopAsked) process.stdout.write(hooks.summary(runtime));
    return stopAsked && hooks.until ? 130 : 0;
  } catch (err) {
    if (showProgress) process.stderr.write(`\r\x1b[2K${line(runtime.metrics())}\n`);
    process.stderr.write(`weir: ${describeError(err)}\n`);
    return 1;
  } finally {
    if (timer) clearInterval(timer);
    await cleanup();
  }
}

