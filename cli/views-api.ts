import { Hono } from "hono";
import type { ViewStore } from "../runtime/internal.ts";

/**
 * The read side of an app's materialized views, as a sub-app to mount at `/views`: `GET
 * /{view}/{key}` answers one key's latest value, `GET /{view}?prefix=` the keys starting with the
 * prefix (sorted). Errors are `{error_code, message}` like the registry's.
 *
 * @example
 * root.route("/views", viewsApi(views, ["balances"]));
 */
export function viewsApi(views: ViewStore, names: readonly string[]): Hono {
  const app = new Hono();
  const known = (c: { req: { param(k: string): string | undefined } }) => {
    const view = c.req.param("view")!;
    return names.includes(view) ? view : undefined;
  };
  const missing = (what: string) => ({ error_code: 404, message: what });
  app.get("/:view/:key", async (c) => {
    const view = known(c);
    if (!view) return c.json(missing(`no view "${c.req.param("view")}" (views: ${names.join(", ") || "none"})`), 404);
    const key = c.req.param("key");
    const value = await views.get(view, key);
    return value === undefined ? c.json(missing(`view ${view} has no key "${key}"`), 404) : c.json({ view, key, value });
  });
  app.get("/:view", async (c) => {
    const view = known(c);
    if (!view) return c.json(missing(`no view "${c.req.param("view")}" (views: ${names.join(", ") || "none"})`), 404);
    const prefix = c.req.query("prefix") ?? "";
    return c.json({ view, prefix, items: await views.list(view, prefix) });
  });
  app.onError((err, c) => c.json({ error_code: 500, message: `view store: ${err.message}` }, 500));
  return app;
}
