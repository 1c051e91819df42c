import type { NatsConnection } from "@nats-io/nats-core";
import { connectNats, DEFAULTS, startEmbeddedNats } from "../runtime/internal.ts";
import type { NatsValues } from "./options.ts";

/** The NATS URL to use: --nats, else the embedded server (started or reused). */
export async function natsFor(values: NatsValues) {
  if (values.nats) return { url: values.nats, embedded: undefined };
  const dataDir = values["data-dir"] ?? DEFAULTS.dataDir;
  const srv = await startEmbeddedNats(dataDir);
  process.stderr.write(`weir: ${srv.reused ? "reusing" : "started"} embedded nats-server at ${srv.url} (data in ${dataDir})\n`);
  return { url: srv.url, embedded: srv };
}

/**
 * Runs a command's work on a NATS connection (given by --nats, else the embedded server), then
 * closes it; an embedded server this command started is its own and stops with it, one it found
 * running belongs to someone else.
 */
export async function withNats<T>(values: NatsValues, name: string, work: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const { url, embedded } = await natsFor(values);
  try {
    const nc = await connectNats(url, name);
    try {
      return await work(nc);
    } finally {
      await nc.close();
    }
  } finally {
    if (embedded && !embedded.reused) await embedded.stop();
  }
}
