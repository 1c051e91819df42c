import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../runtime/internal.ts";
import { spawnWeir, startNats, waitFor, weirCli } from "../runtime/testing/mod.ts";

const LEDGER = new URL("../apps/payments-ledger/main.ts", import.meta.url).pathname;

test("weir run's HTTP: --protect-reads puts views and metrics behind the registry token (health stays open); a taken port is an error; a public address without a token is warned about", async () => {
  await using nats = await startNats();
  const dir = mkdtempSync(join(tmpdir(), "weir-http-"));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const sink = ["--sink", `sqlite:${join(dir, "out.db")}`];
  const guarded = spawnWeir([LEDGER, "--nats", nats.url, "--workers", "1", "--http", `127.0.0.1:${port}`, "--registry-token", "s3cret", "--protect-reads", "--no-progress", ...sink]);
  try {
    await guarded.started;
    await waitFor(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 30_000, "the app to be ready");
    const get = async (path: string, token?: string) => {
      const r = await fetch(base + path, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      return { status: r.status, body: await r.text() };
    };
    for (const path of ["/metrics", "/views/balances/acct-1", "/subjects", "/ui", "/ui/data"]) {
      expect({ path, status: (await get(path)).status }).toEqual({ path, status: 401 });
      expect({ path, status: (await get(path, "guess")).status }).toEqual({ path, status: 401 });
    }
    expect(JSON.parse((await get("/metrics")).body)).toEqual({ error_code: 401, message: "Unauthorized: this weir requires a bearer token" });
    expect((await get("/metrics", "s3cret")).body).toContain("weir_events_processed_total");
    expect((await get("/views/balances/acct-1", "s3cret")).status).toBe(404); // behind the token: the view has no such key
    expect((await get("/subjects", "s3cret")).status).toBe(200);
    expect((await get("/ui/data", "s3cret")).status).toBe(200);
    // The page asks a browser for the token (as a password), which then sends it on.
    expect((await fetch(`${base}/ui`)).headers.get("www-authenticate")).toBe('Basic realm="weir"');
    expect((await fetch(`${base}/ui`, { headers: { authorization: `Basic ${btoa("any:s3cret")}` } })).status).toBe(200);
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/readyz")).status).toBe(200);

    // The same port again: an error at start, not an app without its HTTP.
    const taken = await weirCli("run", LEDGER, "--nats", nats.url, "--workers", "1", "--http", `127.0.0.1:${port}`, "--no-progress", ...sink);
    expect(taken.code).toBe(1);
    expect(taken.err.trim().split("\n").pop()).toStartWith(`weir: cannot serve the schema registry API, views, metrics and health, live page (/ui) on 127.0.0.1:${port}`);
    expect(await weirCli("run", LEDGER, "--protect-reads", "--no-http")).toEqual({ code: 2, out: "", err: "weir: --protect-reads needs --registry-token (or WEIR_REGISTRY_TOKEN)\n" });

    const open = spawnWeir([LEDGER, "--nats", nats.url, "--workers", "1", "--http", "0.0.0.0:0", "--no-progress", "--no-registry", ...sink]);
    await open.started;
    await waitFor(() => open.out.log.includes("without a token") && /views[^\n]* at http:\/\/[^:]+:(\d+)/.test(open.out.log), 10_000, "the warning and the address");
    expect(open.out.log).toContain("serving HTTP on 0.0.0.0:0 without a token: whoever reaches it can read the views and metrics and write to the registry");
    // Without the registry, the views are served all the same.
    const openPort = /views[^\n]* at http:\/\/[^:]+:(\d+)/.exec(open.out.log)![1];
    const view = await fetch(`http://127.0.0.1:${openPort}/views/balances/nobody`);
    expect({ status: view.status, body: await view.json() }).toEqual({ status: 404, body: { error_code: 404, message: 'view balances has no key "nobody"' } });
    open.proc.kill("SIGTERM");
    expect(await open.proc.exited).toBe(0);
    guarded.proc.kill("SIGTERM");
    expect(await guarded.proc.exited).toBe(0);
  } finally {
    guarded.proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
