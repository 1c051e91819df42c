import { Hono } from "hono";
import { ConfigError, describeError } from "../runtime/mod.ts";
import { checkToken } from "../schema-registry/mod.ts";
import { cliLog } from "./log.ts";

/** The HTTP parts of a weir process, each a Hono sub-app. */
export interface HttpParts {
  /** The schema registry's API, at the root (clients address it by base URL). */
  registry?: Hono;
  /** An app's views, at `/views`. */
  views?: Hono;
  /** A running app's `/metrics`, `/healthz` and `/readyz`. */
  ops?: Hono;
  /** A running app's live page, `/ui`. */
  ui?: Hono;
}

export interface HttpServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * One Hono app of the parts, each mounted with `app.route()` (metrics and health join here). Paths
 * no part serves are answered by the registry (in its error format) when it is there.
 */
export function composeHttp(parts: HttpParts, guard?: { token: string; protectReads: boolean }): Hono {
  const root = new Hono();
  // The app's reads (views, metrics) take the registry's token when reads are protected; health stays open to orchestrators.
  if (guard?.protectReads) {
    root.use(async (c, next) => {
      if (c.req.path === "/healthz" || c.req.path === "/readyz" || !(c.req.path === "/metrics" || c.req.path.startsWith("/views") || c.req.path.startsWith("/ui"))) return next();
      const check = checkToken(c.req.header("authorization"), guard.token);
      if (check === "ok") return next();
      // A browser asks for the page's credentials (any user, the token as password) and sends them on with its requests.
      c.header("WWW-Authenticate", c.req.path.startsWith("/ui") ? 'Basic realm="weir"' : 'Bearer realm="weir"');
      return c.json({ error_code: 401, message: check === "wrong" ? "Unauthorized: the token does not match" : "Unauthorized: this weir requires a bearer token" }, 401);
    });
  }
  if (parts.ops) root.route("/", parts.ops);
  if (parts.ui) root.route("/", parts.ui);
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
export function serveHttp(parts: HttpParts, listen: { hostname: string; port: number }, required: boolean, guard?: { token: string; protectReads: boolean }): HttpServer | undefined {
  const what = [parts.registry ? "schema registry API" : "", parts.views ? "views" : "", parts.ops ? "metrics and health" : "", parts.ui ? "live page (/ui)" : ""].filter(Boolean).join(", ");
  try {
    const server = Bun.serve({ ...listen, fetch: composeHttp(parts, guard).fetch });
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
