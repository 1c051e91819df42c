import { expect, test } from "bun:test";
import { spawn } from "bun";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { client, publishAll, startNats, waitFor } from "../runtime/testing/mod.ts";

const LEDGER = new URL("../apps/payments-ledger/main.ts", import.meta.url).pathname;
const MAIN = new URL("./main.ts", import.meta.url).pathname;

test("weir run serves an app's KV views over HTTP: one key, a prefix, and 404s that say why", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const dir = mkdtempSync(join(tmpdir(), "weir-views-"));
  const proc = spawn([process.execPath, MAIN, "run", LEDGER, "--nats", nats.url, "--workers", "1", "--http", "127.0.0.1:0", "--sink", `sqlite:${join(dir, "out.db")}`], {
    stdout: "ignore",
    stderr: "pipe",
  });
  let log = "";
  const drained = (async () => {
    for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
  })();
  try {
    await waitFor(() => /serving the [^\n]*views[^\n]* at (http:\S+)/.test(log), 30_000, "the HTTP server");
    const base = /serving the [^\n]*views[^\n]* at (http:\S+)/.exec(log)![1]!;
    const t = Date.UTC(2026, 0, 1);
    await publishAll(c.js, [
      { subject: "payments.acct-1", value: { event_id: "p1", account_id: "acct-1", amount: 500, currency: "EUR", event_time: t } },
      { subject: "payments.acct-1", value: { event_id: "p2", account_id: "acct-1", amount: -200, currency: "EUR", event_time: t + 1 } },
      { subject: "payments.acct-12", value: { event_id: "p3", account_id: "acct-12", amount: 70, currency: "USD", event_time: t + 2 } },
      { subject: "payments.bob", value: { event_id: "p4", account_id: "bob", amount: 1, currency: "GBP", event_time: t + 3 } },
    ]);
    const get = async (path: string) => {
      const r = await fetch(base + path);
      return { status: r.status, body: (await r.json()) as any };
    };
    // Views are written with each snapshot (every 500 ms for this app).
    await waitFor(async () => (await get("/views/balances/bob")).status === 200, 30_000, "the view to be written");
    expect((await get("/views/balances/acct-1")).body).toEqual({ view: "balances", key: "acct-1", value: { balance: 300, currency: "EUR", updated_at: t + 1 } });
    expect((await get("/views/balances?prefix=acct-")).body.items.map((i: { key: string; value: { balance: number } }) => [i.key, i.value.balance])).toEqual([
      ["acct-1", 300],
      ["acct-12", 70],
    ]);
    expect(await get("/views/balances/nobody")).toMatchObject({ status: 404, body: { error_code: 404, message: 'view balances has no key "nobody"' } });
    expect((await get("/views/nope/x")).status).toBe(404);
    // The registry answers on the same port.
    expect((await get("/subjects")).body).toEqual(["payments.>-value"]);
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
    await drained;
  }
});
