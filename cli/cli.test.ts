import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { startNats, appNames } from "../runtime/nats/mod.ts";
import { kvSnapshotStore } from "../runtime/state/mod.ts";
import { client, KILLED_LOCK_TTL, publishAll, storedProgress, storedStates, waitFor } from "../runtime/testing/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ORDER_APP = join(ROOT, "runtime/testdata/order-app.ts");
let dir: string;
let weir: string;

beforeAll(() => {
  // The tests run the compiled single binary, as an edge host would.
  dir = mkdtempSync(join(tmpdir(), "weir-cli-"));
  weir = join(dir, "weir");
  const build = spawnSync(
    [process.execPath, "build", "--compile", "cli/main.ts", "cli/worker.ts", "--outfile", weir],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
  );
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runSync(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync([weir, ...args], { cwd: dir, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

describe("weir CLI (compiled binary)", () => {
  test("--version and --help", () => {
    expect(runSync(["--version"])).toMatchObject({ code: 0, out: `${pkg.version}\n` });
    const help = runSync(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("weir run <app-module.ts>");
    const runHelp = runSync(["run", "--help"]);
    expect(runHelp.code).toBe(0);
    expect(runHelp.out).toContain("--nats <url>");
    const replayHelp = runSync(["replay", "--help"]);
    expect(replayHelp.code).toBe(0);
    expect(replayHelp.out).toContain("--into <namespace>");
    const statusHelp = runSync(["status", "--help"]);
    expect(statusHelp.code).toBe(0);
    expect(statusHelp.out).toContain("fencing epoch");
  });

  test("bad arguments: one line on stderr, non-zero exit", () => {
    for (const [args, msg] of [
      [["frobnicate"], 'unknown command "frobnicate"'],
      [["run"], "run needs an app module"],
      [["replay", "--from", "1", "--into", "x"], "replay needs an app module"],
      [["run", "a.ts", "--workers", "0"], "--workers must be a positive integer"],
      [["run", "a.ts", "--bogus"], "Unknown option '--bogus'"],
      [["run", "a.ts", "--log-level", "loud"], "--log-level must be one of"],
      [["status"], "status needs an app name or module"],
    ] as const) {
      const r = runSync([...args]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(msg);
      expect(r.err.trim().split("\n")).toHaveLength(1);
    }
  });

  test("a missing app module or nats-server binary is a one-line error", async () => {
    await using nats = await startNats();
    const noApp = runSync(["run", join(dir, "nope.ts"), "--nats", nats.url]);
    expect(noApp.code).toBe(1);
    expect(noApp.err).toContain("cannot load app module");
    expect(noApp.err.trim().split("\n")).toHaveLength(1);
    const noServer = runSync(["run", ORDER_APP, "--data-dir", join(dir, "nodata")], {
      WEIR_NATS_SERVER: join(dir, "missing", "nats-server"),
    });
    expect(noServer.code).toBe(1);
    expect(noServer.err).toContain("no nats-server binary at");
    expect(noServer.err).toContain("apt-get install nats-server");
    expect(noServer.err.trim().split("\n")).toHaveLength(1);
  });

  test("runs an app against a nats-server given by --nats and stops cleanly on SIGTERM", async () => {
    await using nats = await startNats();
    await using c = await client(nats.url);
    const proc = spawn([weir, "run", ORDER_APP, "--nats", nats.url, "--workers", "2", "--no-progress"], {
      cwd: dir,
      stdout: "ignore",
      stderr: "pipe",
    });
    await waitForStore(c.nc);
    const lastSeq = await publishAll(
      c.js,
      Array.from({ length: 5000 }, (_, id) => ({ subject: `t.in.k${id % 10}`, value: { id, k: `k${id % 10}`, n: 1 } })),
    );
    await waitFor(async () => (await storedProgress(c.nc, "order", 16)) >= lastSeq, 60_000, "the binary to process all events");
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    const states = await storedStates(c.nc, appNames("order").bucket);
    expect([...states.values()].map((r) => (r.state as { count: number }).count)).toEqual(Array(10).fill(500));
  });

  test("embedded default: starts its own nats-server, reuses it after kill -9, stops it on SIGTERM", async () => {
    const dataDir = join(dir, "embedded");
    const start = async () => {
      const proc = spawn([weir, "run", ORDER_APP, "--data-dir", dataDir, "--workers", "1", "--no-progress", ...KILLED_LOCK_TTL], {
        cwd: dir,
        stdout: "ignore",
        stderr: "pipe",
      });
      let log = "";
      const dec = new TextDecoder();
      const reader = proc.stderr.getReader();
      while (!log.includes("resuming each partition")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`weir exited: ${log}`);
        log += dec.decode(value);
      }
      reader.releaseLock();
      void proc.stderr.pipeTo(new WritableStream()).catch(() => {});
      const url = /embedded nats-server at (\S+)/.exec(log)![1]!;
      return { proc, url, reused: log.includes("reusing embedded") };
    };
    const first = await start();
    expect(first.reused).toBe(false);
    {
      await using c = await client(first.url);
      await waitForStore(c.nc);
      const lastSeq = await publishAll(
        c.js,
        Array.from({ length: 1000 }, (_, id) => ({ subject: `t.in.k${id % 4}`, value: { id, k: `k${id % 4}`, n: 2 } })),
      );
      await waitFor(async () => (await storedProgress(c.nc, "order", 16)) >= lastSeq, 60_000, "the first run to process");
    }
    first.proc.kill("SIGKILL");
    await first.proc.exited;

    const second = await start();
    expect(second.reused).toBe(true);
    expect(second.url).toBe(first.url);
    {
      await using c = await client(second.url);
      const states = await storedStates(c.nc, appNames("order").bucket);
      expect([...states.values()].map((r) => (r.state as { sum: number }).sum)).toEqual([500, 500, 500, 500]);
    }
    second.proc.kill("SIGTERM");
    expect(await second.proc.exited).toBe(0);
    // The embedded server went down with the graceful stop.
    await expect(client(second.url)).rejects.toThrow();
  });
});

/** The app's snapshot store, once the app has started (it writes its config first). */
async function waitForStore(nc: Parameters<typeof kvSnapshotStore>[0]) {
  const store = await kvSnapshotStore(nc, { bucket: appNames("order").bucket });
  await waitFor(async () => (await store.loadConfig()) !== null, 30_000, "the app to start");
  return store;
}

