import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "bun";
import { appNames } from "../runtime/internal.ts";
import { client, MAIN, readStream, securedNats, spawnWeir, waitFor, weirCli, type LoginMethod } from "../runtime/testing/mod.ts";

// Every command that talks to NATS logs in the way the server asks: user and password, a token, an
// nkey seed, a JWT .creds file (an operator and account set up here), TLS with a client certificate
// (a CA made here). Wrong credentials are one line naming the method, exit 1, and no secret printed.

const ORDER_APP = new URL("../runtime/testdata/order-app.ts", import.meta.url).pathname;
const METHODS: LoginMethod[] = ["user", "token", "nkey", "creds", "tls"];

/** A command's whole output must not hold any of the secrets. */
const leaks = (text: string, secrets: string[]) => secrets.filter((s) => text.includes(s));

/** `weir registry` until it prints where it serves (it connected), then SIGTERM. */
async function registryServes(args: string[]): Promise<{ code: number; url: string; err: string }> {
  const proc = spawn([process.execPath, MAIN, "registry", "--http", "127.0.0.1:0", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  const first = await reader.read();
  const url = first.value ? new TextDecoder().decode(first.value).trim() : "";
  if (url) proc.kill("SIGTERM");
  reader.releaseLock();
  const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  return { code, url, err };
}

describe.each(METHODS)("NATS login: %s", (method) => {
  test("run, produce, dlq, status and registry connect; wrong credentials are one line, exit 1, no secret shown", async () => {
    await using s = await securedNats(method);
    const dir = mkdtempSync(join(tmpdir(), "weir-auth-run-"));
    try {
      // run: the app starts, registers its schema and processes what produce publishes.
      const run = spawnWeir([ORDER_APP, ...s.good, "--workers", "1", "--no-progress", "--no-http", "--data-dir", dir]);
      await run.started;
      const events = Array.from({ length: 20 }, (_, i) => JSON.stringify({ id: i, k: `k${i % 3}`, n: i }));
      const file = join(dir, "events.jsonl");
      writeFileSync(file, `${events.join("\n")}\n`);
      const produced = await weirCli("produce", "t.in.a", ...s.good, "--file", file);
      expect({ code: produced.code, err: produced.err }).toEqual({ code: 0, err: expect.any(String) });
      await using c = await client(s.target);
      await waitFor(async () => (await readStream(c.nc, appNames("order").output)).length === 20, 30_000, "the 20 outputs");

      const stats = await weirCli("dlq", "stats", "order", ...s.good);
      expect(stats.code).toBe(0);
      expect(stats.out).toContain("0 dead letters of app order");
      const status = await weirCli("status", "order", ...s.good, "--json");
      expect(status.code).toBe(0);
      expect(JSON.parse(status.out).app).toBe("order");
      const registry = await registryServes(s.good);
      expect(registry.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+/);
      expect(registry.code).toBe(0);

      run.proc.kill("SIGTERM");
      expect(await run.proc.exited).toBe(0);
      await run.out.drained;
      expect(leaks(run.out.log + produced.out + produced.err + stats.out + stats.err + status.out + status.err + registry.err, s.secrets)).toEqual([]);

      // Wrong credentials: one line that names the method, exit 1, for every command.
      const [regBad, ...tries] = await Promise.all([
        registryServes(s.bad),
        weirCli("run", ORDER_APP, ...s.bad, "--no-progress", "--no-http", "--data-dir", dir),
        weirCli("produce", "t.in.a", ...s.bad, "--file", file),
        weirCli("dlq", "stats", "order", ...s.bad),
        weirCli("status", "order", ...s.bad),
      ]);
      expect(regBad.url).toBe("");
      for (const r of [...tries, { ...regBad, out: "" }]) {
        const lines = r.err.trim().split("\n");
        expect({ code: r.code, lines: lines.length, leaks: leaks(r.out + r.err, s.secrets) }).toEqual({ code: 1, lines: 1, leaks: [] });
        expect(lines[0]).toStartWith(`weir: cannot connect to NATS at 127.0.0.1:${s.server.port} with `);
        expect(lines[0]).toMatch(method === "tls" ? /over TLS.*client certificate/ : /Authorization Violation/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("NATS targets from the command line, the environment and nats contexts", () => {
  test("credentials in the URL, NATS_* variables and a context log in; flags win over the environment, the environment over the context", async () => {
    await using s = await securedNats("user");
    const password = s.target.password!;
    const home = mkdtempSync(join(tmpdir(), "weir-ctx-"));
    try {
      const ctxDir = join(home, "nats", "context");
      await Bun.write(join(ctxDir, "secured.json"), JSON.stringify({ url: `nats://127.0.0.1:${s.server.port}`, user: "alice", password }));
      await Bun.write(join(ctxDir, "wrong.json"), JSON.stringify({ url: `nats://127.0.0.1:${s.server.port}`, user: "alice", password: "nope" }));
      const status = async (args: string[], env: Record<string, string> = {}) => {
        const p = spawn([process.execPath, MAIN, "status", "order", "--json", ...args], { env: { ...process.env, XDG_CONFIG_HOME: home, ...env }, stdout: "pipe", stderr: "pipe" });
        const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
        expect(leaks(out + err, [password, "nope"])).toEqual([]);
        return { code, err: err.trim() };
      };
      // Logged in: status gets as far as finding no app on this server.
      const loggedIn = async (args: string[], env: Record<string, string> = {}) => (await status(args, env)).err === "weir: app order has no state on this NATS (no bucket weir_order_state): has it ever run here?";
      const url = `nats://127.0.0.1:${s.server.port}`;
      expect(await loggedIn(["--nats", `nats://alice:${encodeURIComponent(password)}@127.0.0.1:${s.server.port}`])).toBe(true);
      expect(await loggedIn([], { NATS_URL: url, NATS_USER: "alice", NATS_PASSWORD: password })).toBe(true);
      expect(await loggedIn(["--context", "secured"])).toBe(true);
      expect(await loggedIn([], { NATS_CONTEXT: "secured" })).toBe(true);
      expect(await loggedIn(["--context", join(ctxDir, "secured.json")])).toBe(true);
      const toml = join(home, "weir.toml");
      await Bun.write(toml, `[nats]\nurl = "${url}"\nuser = "alice"\npassword = "nope"\n`);
      expect(await loggedIn(["--config", toml], { NATS_PASSWORD: password })).toBe(true);
      expect(await loggedIn(["--config", toml, "--nats-password", password])).toBe(true);
      // The environment's password over the context's wrong one; a flag's over a wrong environment.
      expect(await loggedIn(["--context", "wrong"], { NATS_PASSWORD: password })).toBe(true);
      expect(await loggedIn(["--nats-password", password], { NATS_URL: url, NATS_USER: "alice", NATS_PASSWORD: "nope" })).toBe(true);
      const refused = await status(["--context", "wrong"]);
      expect(refused).toEqual({ code: 1, err: `weir: cannot connect to NATS at 127.0.0.1:${s.server.port} with user alice and a password: Authorization Violation` });
      expect(await status(["--context", "missing"])).toEqual({ code: 1, err: `weir: no nats context "missing" (looked for ${join(ctxDir, "missing.json")})` });
      expect(await status(["--nats-user", "alice"])).toEqual({
        code: 2,
        err: "weir: --nats-user (or its environment variable or config key) is for a NATS server given by --nats, NATS_URL or --context; the embedded nats-server asks for no credentials",
      });
      const badUrl = await status(["--nats", `http://alice:${password}@host`]);
      expect(badUrl).toEqual({ code: 1, err: `weir: "http://alice:***@host": weir connects with nats:// or tls:// URLs, not http://` });
      expect(await status(["--nats", url, "--nats-creds", join(home, "none.creds")])).toEqual({ code: 1, err: `weir: cannot read the NATS credentials file ${join(home, "none.creds")}: no such file` });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 60_000);
});
