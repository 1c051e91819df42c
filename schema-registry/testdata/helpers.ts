import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { startNats, type NatsServer } from "../../runtime/testing/mod.ts";
import { createRegistry, kvRegistryStore, serveRegistry, type RegistryApiOptions, type RegistryServer } from "../mod.ts";

export interface Answer {
  status: number;
  body: any;
  contentType: string | null;
}

/** A tiny HTTP client for the registry API (what curl would do). */
export function client(base: string, token?: string) {
  return async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const r = await fetch(base + path, {
      method,
      headers: {
        "Content-Type": "application/vnd.schemaregistry.v1+json",
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined, contentType: r.headers.get("content-type") };
  };
}

/** A JSON Schema registration body. */
export const json = (schema: unknown, extra: Record<string, unknown> = {}) => ({
  schemaType: "JSON",
  schema: JSON.stringify(schema),
  ...extra,
});

export interface RegistryFixture extends AsyncDisposable {
  nats: NatsServer;
  nc: NatsConnection;
  server: RegistryServer;
  url: string;
}

/** A real nats-server, a registry on it and its HTTP API on a free port. */
export async function startRegistry(opts: RegistryApiOptions = {}, nats?: NatsServer): Promise<RegistryFixture> {
  const srv = nats ?? (await startNats());
  const nc = await connect({ servers: srv.url, noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const registry = createRegistry({ store: await kvRegistryStore(nc) });
  const server = serveRegistry(registry, { port: 0, ...opts });
  return {
    nats: srv,
    nc,
    server,
    url: server.url,
    async [Symbol.asyncDispose]() {
      await server.stop();
      await nc.close();
      if (!nats) await srv.stop();
    },
  };
}
