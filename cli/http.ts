import { Hono } from "hono";
import { ConfigError, describeError } from "../runtime/mod.ts";
import { cliLog } from "./log.ts";

/** The HTTP parts of a weir process, each a Hono sub-app. */
export interface HttpParts {
  /** The schema registry's API, at the root (clients address it by base URL). */
  registry?: Hono;
  /** An app's views, at `/views`. */
  views?: Hono;
  /** A running app's `/metrics`, `/healthz` and `/readyz`. */
  ops?: Hono;
}

export interface HttpServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * One Hono app of the parts, each mounted with `app.route()` (metrics and health join here). Paths
 * no part serves are answered by the registry (in its error format) when it is there.
 */
export function composeHttp(parts: HttpParts): Hono {
  const root = new Hono();
  if (parts.ops) root.route("/", parts.ops);
  if (parts.views) root.route("/views", parts.views);
  if (parts.registry) {
    const registry = parts.registry;
    root.route("/", registry);
    // A not-found handler runs only in the top-level app: let the registry's own answer.
    root.notFound((c) => registry.fetch(c.req.raw));
  }
  return root;
}

/**
 * Serves the parts on one address. A taken port is an error when `required`; otherwise a warning
 * and undefined (e.g. another weir on this host serves the same registry, which lives in NATS).
 */
export function serveHttp(parts: HttpParts, listen: { hostname: string; port: number }, required: boolean): HttpServer | undefined {
  const what = [parts.registry ? "schema registry API" : "", parts.views ? "views" : "", parts.ops ? "metrics and health" : ""].filter(Boolean).join(", ");
  try {
    const server = Bun.serve({ ...listen, fetch: composeHttp(parts).fetch });
    const url = `http://${server.hostname}:${server.port}`;
    cliLog.info(`serving the ${what} at ${url}`);
    return { url, stop: () => server.stop(true) };
  } catch (err) {
    const msg = `cannot serve the ${what} on ${listen.hostname}:${listen.port}: ${describeError(err)}`;
    if (required) throw new ConfigError(msg, { cause: err });
    cliLog.warn(`${msg}; going on without it (pass --http or --no-http)`);
    return undefined;
  }
}
