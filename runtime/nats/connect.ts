import type { ConnectionOptions, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { ConfigError, describeError } from "../contract/mod.ts";

/**
 * The options of every connection weir makes: reconnect for ever, and quickly (the broker is
 * usually local and comes back soon after a restart), named so `nats server report connections`
 * tells them apart.
 *
 * @example
 * const nc = await connect(connectOptions("nats://127.0.0.1:4222", "weir-ledger"));
 */
export function connectOptions(servers: string, name: string): ConnectionOptions {
  return { servers, name, noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 250 };
}

/**
 * Connects with {@link connectOptions}; a refused or unreachable server is a one-line ConfigError.
 *
 * @example
 * const nc = await connectNats(url, "weir-dlq");
 */
export async function connectNats(servers: string, name: string): Promise<NatsConnection> {
  try {
    return await connect(connectOptions(servers, name));
  } catch (err) {
    throw new ConfigError(`cannot connect to NATS at ${servers}: ${describeError(err)}`, { cause: err });
  }
}

/** nats.js errors of a broker that is away or busy for a while (a node restarting, a leader moving, a lost connection). */
const TRANSIENT = new Set(["TimeoutError", "ConnectionError", "ClosedConnectionError", "DrainingConnectionError", "NoResponders", "RequestError", "JetStreamNotEnabled"]);

/**
 * Whether an error is the broker's, and passing: trying again later (from the snapshots) can
 * succeed. JetStream's "temporarily unavailable" (503) counts; its other API errors do not.
 *
 * @example
 * transientNatsError(new TimeoutError()) // true
 */
export function transientNatsError(err: unknown): boolean {
  const e = err as { name?: unknown; status?: unknown; code?: unknown } | null;
  if (!e || typeof e !== "object") return false;
  if (typeof e.name === "string" && TRANSIENT.has(e.name)) return true;
  return e.name === "JetStreamApiError" && (e.status === 503 || e.code === 10008);
}
