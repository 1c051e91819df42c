import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { startNats, appNames } from "../runtime/nats/mod.ts";
import { kvSnapshotStore } from "../runtime/state/mod.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { msgpackCodec, partitionOf } from "../runtime/route/mod.ts";
import { client, KILLED_LOCK_TTL, publishAll, readStream, storedProgress, storedStates, waitFor } from "../runtime/testing/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ORDER_APP = join(ROOT, "runtime/testdata/order-app.ts");
const COUNT_APP = join(ROOT, "runtime/testdata/count-app.ts");
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
    const start = () => runEmbedded(ORDER_APP, dataDir);
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

  test("embedded default shared by two apps: the first one's stop leaves the server to the second, which goes on; the last one out stops it", async () => {
    const dataDir = join(dir, "shared");
    const order = await runEmbedded(ORDER_APP, dataDir);
    const count = await runEmbedded(COUNT_APP, dataDir);
    expect([order.reused, count.reused]).toEqual([false, true]);
    order.proc.kill("SIGTERM");
    expect(await order.proc.exited).toBe(0);
    {
      // The server is still up, and the second app still processes.
      await using c = await client(count.url);
      const lastSeq = await publishAll(c.js, Array.from({ length: 200 }, (_, i) => ({ subject: `cnt.u${i % 5}`, value: { n: 1 } })));
      await waitFor(async () => (await storedProgress(c.nc, "cnt", 16)) >= lastSeq, 60_000, "the second app to process after the first stopped");
    }
    count.proc.kill("SIGTERM");
    expect(await count.proc.exited).toBe(0);
    await expect(client(count.url)).rejects.toThrow();
  });

  test("--server-mapping: the embedded nats-server partitions a token-keyed app's input as partitionOf does, as weir mapping prints it; a run without it undoes it", async () => {
    const printed = runSync(["mapping", COUNT_APP]);
    expect(printed).toMatchObject({
      code: 0,
      out: 'mappings = {\n  "cnt.*": "weir.in.cnt.{{partition(16,1)}}.cnt.{{wildcard(1)}}"\n  "cnt.*.>": "weir.in.cnt.{{partition(16,1)}}.cnt.{{wildcard(1)}}.>"\n}\n',
    });
    expect(runSync(["mapping", ORDER_APP]).err).toContain("actor acc is keyed by a field or a function, not a subject token");
    expect(runSync(["run", COUNT_APP, "--server-mapping", "--nats", "nats://127.0.0.1:1"]).err).toContain("--server-mapping sets up the embedded nats-server");

    const dataDir = join(dir, "mapped");
    const names = appNames("cnt");
    const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const total = async (nc: Parameters<typeof storedStates>[0]) =>
      [...(await storedStates(nc, names.bucket)).values()].reduce((n, r) => n + (r.state as { count: number }).count, 0);

    const mapped = await runEmbedded(COUNT_APP, dataDir, ["--server-mapping"], "now partitions");
    expect(mapped.log).toContain("the embedded nats-server now partitions cnt.*, cnt.*.> into app cnt's partitions");
    {
      await using c = await client(mapped.url);
      // Producers publish the plain subjects; the server stores each in its key's partition.
      for (let i = 0; i < 2_000; i++) await c.js.publish(`cnt.${keys[i % keys.length]}`, msgpackCodec.encode({ n: 1 }));
      await waitFor(async () => (await total(c.nc)) === 2_000, 60_000, "the mapped events to be counted");
      const jsm = await jetstreamManager(c.nc);
      expect((await jsm.streams.info(names.input)).state.messages).toBe(0);
      for (let p = 0; p < 16; p++) {
        for (const m of await readStream(c.nc, names.partitionStream(p))) expect([m.subject, partitionOf(m.subject.split(".")[5]!, 16)]).toEqual([m.subject, p]);
      }
    }
    mapped.proc.kill("SIGTERM");
    expect(await mapped.proc.exited).toBe(0);

    const plain = await runEmbedded(COUNT_APP, dataDir, [], "no longer partitions");
    expect(plain.log).toContain("the embedded nats-server no longer partitions app cnt's input (the repartition step does)");
    {
      await using c = await client(plain.url);
      for (let i = 0; i < 100; i++) await c.js.publish(`cnt.${keys[i]}`, msgpackCodec.encode({ n: 1 }));
      await waitFor(async () => (await total(c.nc)) === 2_100, 60_000, "the unmapped events to be counted");
      expect((await (await jetstreamManager(c.nc)).streams.info(names.input)).state.messages).toBe(100);
    }
    plain.proc.kill("SIGTERM");
    expect(await plain.proc.exited).toBe(0);
  });
});

/**
 * `weir run` of the binary on the embedded server of `dataDir`, once it is up: its server's URL,
 * whether it reused a running server, and its log until then (`until` in it, when given, too).
 */
async function runEmbedded(app: string, dataDir: string, args: string[] = [], until?: string) {
  const proc = spawn([weir, "run", app, "--data-dir", dataDir, "--workers", "1", "--no-progress", "--no-http", ...KILLED_LOCK_TTL, ...args], {
    cwd: dir,
    stdout: "ignore",
    stderr: "pipe",
  });
  let log = "";
  const dec = new TextDecoder();
  const reader = proc.stderr.getReader();
  while (!log.includes("resuming each partition") || (until && !log.includes(until))) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`weir exited: ${log}`);
    log += dec.decode(value);
  }
  reader.releaseLock();
  void proc.stderr.pipeTo(new WritableStream()).catch(() => {});
  const url = /embedded nats-server at (\S+)/.exec(log)![1]!;
  return { proc, url, log, reused: log.includes("reusing embedded") };
}

/** The app's snapshot store, once the app has started (it writes its config first). */
async function waitForStore(nc: Parameters<typeof kvSnapshotStore>[0]) {
  const store = await kvSnapshotStore(nc, { bucket: appNames("order").bucket });
  await waitFor(async () => (await store.loadConfig()) !== null, 30_000, "the app to start");
  return store;
}

