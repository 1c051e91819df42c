import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "bun";
import { appNames, freePort } from "../runtime/internal.ts";
import { client, MAIN, orderWorkload, publishAll, startNats, storedStates, waitFor } from "../runtime/testing/mod.ts";

// A real Prometheus (Debian's package) scrapes a running `weir run`; what it stored, read back through
// its HTTP API, matches what the app did: the events it processed (the stored state counts them),
// its lag, and the end-to-end latency histogram. promtool accepts the exposition.

const ORDER_APP = new URL("../runtime/testdata/order-app.ts", import.meta.url).pathname;
const EVENTS = 30_000;

function which(bin: string): string {
  const found = Bun.which(bin) ?? (Bun.file(`/usr/bin/${bin}`).size ? `/usr/bin/${bin}` : undefined);
  if (!found) throw new Error(`${bin} is not installed (apt-get install prometheus; .ci/run does)`);
  return found;
}

/** One instant query's value, or undefined when Prometheus has no sample for it yet. */
async function query(base: string, q: string): Promise<number | undefined> {
  const r = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await r.json()) as { status: string; data: { result: { value: [number, string] }[] } };
  if (body.status !== "success") throw new Error(`query ${q}: ${JSON.stringify(body)}`);
  const v = body.data.result[0]?.value[1];
  return v === undefined ? undefined : Number(v);
}

test("Prometheus scrapes weir run: processed events, lag and the latency histogram match the app's own counts; promtool accepts /metrics", async () => {
  const promtool = which("promtool");
  const prometheus = which("prometheus");
  await using nats = await startNats();
  await using c = await client(nats.url);
  const dir = mkdtempSync(join(tmpdir(), "weir-prom-"));
  const [httpPort, promPort] = [await freePort(), await freePort()];
  const app = spawn([process.execPath, MAIN, "run", ORDER_APP, "--nats", nats.url, "--workers", "2", "--http", `127.0.0.1:${httpPort}`, "--no-progress", "--data-dir", dir], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let log = "";
  void (async () => {
    for await (const chunk of app.stderr) log += new TextDecoder().decode(chunk);
  })();
  writeFileSync(
    join(dir, "prometheus.yml"),
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: weir\n    static_configs:\n      - targets: ["127.0.0.1:${httpPort}"]\n`,
  );
  const prom = spawn(
    [prometheus, `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "tsdb")}`, `--web.listen-address=127.0.0.1:${promPort}`, "--log.level=warn"],
    { stdin: "ignore", stdout: "ignore", stderr: "ignore" },
  );
  const base = `http://127.0.0.1:${promPort}`;
  const weir = `http://127.0.0.1:${httpPort}`;
  try {
    await waitFor(async () => (await fetch(`${weir}/readyz`).catch(() => undefined))?.status === 200, 60_000, "weir to be ready");
    expect((await fetch(`${weir}/healthz`)).status).toBe(200);
    const { events, expected } = orderWorkload(5, EVENTS, 200, 10);
    await publishAll(c.js, events);

    // Everything applied, as Prometheus has it (scraped every second).
    await waitFor(async () => (await query(base, 'weir_events_processed_total{job="weir",app="order"}')) === EVENTS, 90_000, "Prometheus to see every event processed");
    await waitFor(async () => (await query(base, 'sum(weir_consumer_lag_messages{app="order"})')) === 0, 30_000, "the lag Prometheus sees to reach 0");
    await waitFor(async () => (await query(base, 'weir_end_to_end_latency_seconds_count{app="order"}')) === EVENTS, 30_000, "the latency histogram to count every event");
    // The buckets are cumulative and end with every event.
    expect(await query(base, 'weir_end_to_end_latency_seconds_bucket{app="order",le="+Inf"}')).toBe(EVENTS);
    const p99 = await query(base, 'histogram_quantile(0.99, weir_end_to_end_latency_seconds_bucket{app="order"})');
    expect(p99).toBeGreaterThan(0);
    expect(await query(base, 'weir_outputs_total{app="order"}')).toBe(EVENTS);
    expect(await query(base, 'weir_partitions_owned{app="order"}')).toBe(16);
    expect(await query(base, 'weir_ready{app="order"}')).toBe(1);
    // A sample: one handler run in 8, counted in each of the 2 workers.
    const timed = (await query(base, 'weir_handler_duration_seconds_count{app="order"}'))!;
    expect(timed).toBeGreaterThanOrEqual(EVENTS / 8 - 2);
    expect(timed).toBeLessThanOrEqual(EVENTS / 8);

    // The app's own count of what it applied: the stored state of every key.
    await waitFor(async () => {
      const states = await storedStates(c.nc, appNames("order").bucket);
      return [...states.values()].reduce((n, r) => n + (r.state as { count: number }).count, 0) === EVENTS;
    }, 30_000, "the stored state to cover every event");
    const states = await storedStates(c.nc, appNames("order").bucket);
    expect(states.size).toBe(expected.size);

    const exposition = await (await fetch(`${weir}/metrics`)).text();
    const check = spawn([promtool, "check", "metrics"], { stdin: new Blob([exposition]), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(check.stdout).text(), new Response(check.stderr).text(), check.exited]);
    expect({ code, problems: `${out}${err}`.trim() }).toEqual({ code: 0, problems: "" });

    app.kill("SIGTERM");
    expect(await app.exited).toBe(0);
  } catch (err) {
    process.stderr.write(`--- weir log tail:\n${log.slice(-3000)}\n`);
    throw err;
  } finally {
    app.kill("SIGKILL");
    prom.kill("SIGTERM");
    await prom.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}, 180_000);
