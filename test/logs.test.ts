import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "bun";
import { MAIN, startNats, waitFor } from "../runtime/testing/mod.ts";

const ORDER_APP = new URL("../runtime/testdata/order-app.ts", import.meta.url).pathname;

test("weir run --log-format json: every line on stderr is one JSON record (the CLI's, the runtime's, the workers'), and no progress line off a terminal", async () => {
  await using nats = await startNats();
  const dir = mkdtempSync(join(tmpdir(), "weir-logs-"));
  try {
    const proc = spawn([process.execPath, MAIN, "run", ORDER_APP, "--nats", nats.url, "--workers", "2", "--log-format", "json", "--log-level", "debug", "--http", "127.0.0.1:0", "--progress", "--data-dir", dir], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    let log = "";
    process.once("exit", () => proc.kill("SIGKILL"));
    const drained = (async () => {
      for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
    })();
    await waitFor(() => log.includes("resuming each partition") && log.includes("serving the"), 30_000, "the app to start");
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    await drained;
    const lines = log.trim().split("\n");
    const records = lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });
    for (const r of records) {
      expect(typeof r.msg).toBe("string");
      expect(["debug", "info", "warn", "error"]).toContain(r.level as string);
      expect(Date.parse(r.time as string)).not.toBeNaN();
    }
    const says = (part: string) => records.filter((r) => (r.msg as string).includes(part));
    // The runtime's lines name the app; the workers' name themselves too.
    expect(says("resuming each partition")[0]!.app).toBe("order");
    expect(records.some((r) => r.app === "order" && r.component === "worker 1")).toBe(true);
    expect(says("serving the schema registry API").length).toBe(1);
    expect(says("SIGTERM: finishing in-flight work").length).toBe(1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
