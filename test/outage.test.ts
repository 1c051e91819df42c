import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "bun";
import { appNames, freePort } from "../runtime/internal.ts";
import { client, MAIN, orderWorkload, publishAll, startNats, storedStates, waitFor } from "../runtime/testing/mod.ts";

// The broker away for 90 s: a running `weir run` waits it out (/readyz 503 with the reason, a log
// line when the connection goes and when it is back), one started during the outage waits for the
// broker instead of failing, and both go on exactly once it is back.

const ORDER_APP = new URL("../runtime/testdata/order-app.ts", import.meta.url).pathname;
const OUTAGE_MS = 90_000;

function weirRun(natsUrl: string, port: number, dir: string) {
  const proc = spawn([process.execPath, MAIN, "run", ORDER_APP, "--nats", natsUrl, "--workers", "1", "--http", `127.0.0.1:${port}`, "--lock-ttl", "2000", "--no-progress", "--data-dir", dir], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const out = { log: "" };
  const drained = (async () => {
    for await (const chunk of proc.stderr) out.log += new TextDecoder().decode(chunk);
  })();
  return { proc, out, drained, url: `http://127.0.0.1:${port}` };
}

const readyz = async (url: string) => {
  const r = await fetch(`${url}/readyz`).catch(() => undefined);
  return r ? { status: r.status, body: (await r.json()) as { status: string; reason?: string } } : undefined;
};

test("a 90 s broker outage: weir run stays up (503 on /readyz meanwhile), one started during it waits, both finish the work exactly when it is back", async () => {
  await using nats = await startNats();
  const dir = mkdtempSync(join(tmpdir(), "weir-outage-"));
  const a = weirRun(nats.url, await freePort(), dir);
  let b: ReturnType<typeof weirRun> | undefined;
  try {
    await waitFor(async () => (await readyz(a.url))?.status === 200, 60_000, "the first instance to be ready");
    const { events, expected } = orderWorkload(9, 10_000, 300, 10);
    {
      await using c = await client(nats.url);
      await publishAll(c.js, events.slice(0, 5_000));
    }
    await nats.kill();
    await waitFor(async () => (await readyz(a.url))?.status === 503, 30_000, "/readyz to say 503 during the outage");
    expect((await readyz(a.url))!.body).toEqual({ status: "not ready", reason: "not connected to NATS (reconnecting)" });
    expect((await fetch(`${a.url}/healthz`)).status).toBe(200);
    // Another instance started while the broker is away: it waits for it.
    b = weirRun(nats.url, await freePort(), dir);
    await waitFor(() => b!.out.log.includes("waiting for it"), 30_000, "the second instance to wait for NATS");
    await Bun.sleep(OUTAGE_MS);
    expect({ a: a.proc.exitCode, b: b.proc.exitCode }).toEqual({ a: null, b: null });

    await nats.restart();
    await using c = await client(nats.url);
    await publishAll(c.js, events.slice(5_000));
    await waitFor(async () => (await readyz(a.url))?.status === 200 && (await readyz(b!.url))?.status === 200, 60_000, "both instances to be ready again");
    await waitFor(
      async () => {
        const states = await storedStates(c.nc, appNames("order").bucket);
        return [...states.values()].reduce((n, r) => n + (r.state as { count: number }).count, 0) === 10_000;
      },
      90_000,
      "every event to be applied",
    );
    const states = await storedStates(c.nc, appNames("order").bucket);
    for (const [k, e] of expected) {
      const s = states.get(`acc/${k}`)!.state as { sum: number; count: number };
      expect({ k, sum: s.sum, count: s.count }).toEqual({ k, ...e });
    }
    for (const p of [a, b]) p.proc.kill("SIGTERM");
    expect([await a.proc.exited, await b.proc.exited]).toEqual([0, 0]);
    await Promise.all([a.drained, b.drained]);
    // One line when the connection went and one when it came back, not one per retry.
    expect(a.out.log.match(/lost the connection to NATS/g)?.length).toBe(1);
    expect(a.out.log.match(/connected to NATS again/g)?.length).toBe(1);
    expect(b.out.log.match(/waiting for it/g)?.length).toBe(1);
  } catch (err) {
    process.stderr.write(`--- first instance:\n${a.out.log.slice(-3000)}\n--- second:\n${b?.out.log.slice(-3000) ?? ""}\n`);
    throw err;
  } finally {
    a.proc.kill("SIGKILL");
    b?.proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
