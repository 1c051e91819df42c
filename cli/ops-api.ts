import { Hono } from "hono";
import type { Runtime } from "../runtime/mod.ts";

/**
 * What operators and orchestrators read of a running app: `GET /metrics` (Prometheus text
 * exposition), `GET /healthz` (the process answers: 200), `GET /readyz` (200 when the app is
 * connected and runs its partitions, else 503 with the reason).
 *
 * @example
 * root.route("/", opsApi(rt));
 */
export function opsApi(rt: Pick<Runtime, "prometheus" | "prometheusContentType" | "readiness">): Hono {
  const app = new Hono();
  app.get("/metrics", async (c) => c.body(await rt.prometheus(), 200, { "content-type": rt.prometheusContentType }));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const r = rt.readiness();
    return r.ready ? c.json({ status: "ready" }) : c.json({ status: "not ready", reason: r.reason }, 503);
  });
  return app;
}
