import { expect, test } from "bun:test";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { freePort } from "../runtime/internal.ts";
import { client, orderWorkload, publishAll, spawnWeir, startNats, waitFor } from "../runtime/testing/mod.ts";

// The live page in a real headless Chromium (Debian's package, driven by playwright-core) while
// events flow: its charts and its partition table show figures that match /metrics.

const ORDER_APP = new URL("../runtime/testdata/order-app.ts", import.meta.url).pathname;
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => Bun.file(p).size > 0);
const EVENTS = 40_000;

/** One sample's value from an exposition (a metric without labels but `app`). */
const sample = (text: string, name: string) => Number(new RegExp(`^${name}\\{app="order"\\} (\\S+)$`, "m").exec(text)?.[1]);

test("the live page: charts and the partition table fill while events flow, and match /metrics", async () => {
  if (!CHROMIUM) throw new Error("chromium is not installed (apt-get install chromium; .ci/run does)");
  await using nats = await startNats();
  await using c = await client(nats.url);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const app = spawnWeir([ORDER_APP, "--nats", nats.url, "--workers", "2", "--http", `127.0.0.1:${port}`, "--no-progress"]);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    await app.started;
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${base}/ui`);
    await page.waitForSelector(".uplot canvas");
    expect(await page.locator(".uplot").count()).toBe(4);

    // Events arrive over a few seconds, so the page sees them flow.
    const { events } = orderWorkload(12, EVENTS, 400, 10);
    for (let i = 0; i < EVENTS; i += 4_000) {
      await publishAll(c.js, events.slice(i, i + 4_000));
      await Bun.sleep(300);
    }
    const metrics = async () => (await fetch(`${base}/metrics`)).text();
    await waitFor(async () => sample(await metrics(), "weir_events_processed_total") === EVENTS, 60_000, "every event processed");
    const text = await metrics();
    const shown = (id: string) => page.locator(`#${id}`).innerText();
    // The page refreshes every second: it catches up with /metrics.
    await waitFor(async () => (await shown("processed")) === EVENTS.toLocaleString("en-US"), 10_000, "the page to show every event processed");
    expect(await shown("emitted")).toBe(sample(text, "weir_outputs_total").toLocaleString("en-US"));
    expect(await shown("dead-letters")).toBe("0");
    expect(await shown("owned")).toBe(`${sample(text, "weir_partitions_owned")} of ${sample(text, "weir_partitions")}`);
    await waitFor(async () => (await shown("lag")) === "0", 10_000, "the page's lag to reach 0");
    expect(Number(await shown("latency-p99"))).toBeGreaterThan(0);
    // The partition table: a row per owned partition, as /metrics has them.
    const rows = await page.locator("#partitions tbody tr").allInnerTexts();
    expect(rows.length).toBe(sample(text, "weir_partitions_owned"));
    const lagRows = [...text.matchAll(/^weir_consumer_lag_messages\{partition="(\d+)",app="order"\} (\S+)$/gm)].map((m) => `${m[1]}\t${Number(m[2]).toLocaleString("en-US")}`);
    expect(rows).toEqual(lagRows);
    // The charts drew the flow: non-zero rates and latencies among their points.
    const drawn = await page.evaluate(() => {
      const s = (window as unknown as { weirSeries: Record<string, (number | null)[]> }).weirSeries;
      const most = (k: string) => Math.max(0, ...s[k]!.filter((x): x is number => typeof x === "number"));
      return { points: s.t!.length, read: most("read"), processed: most("processed"), out: most("out"), p99: most("p99") };
    });
    expect(drawn.points).toBeGreaterThan(3);
    for (const k of ["read", "processed", "out", "p99"] as const) expect({ k, positive: drawn[k] > 0 }).toEqual({ k, positive: true });
    const shot = join(tmpdir(), "weir-ui.png");
    await page.screenshot({ path: shot, fullPage: true });
    process.stderr.write(`  screenshot of the live page: ${shot}\n`);
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
    app.proc.kill("SIGTERM");
    await app.proc.exited;
  }
}, 180_000);
