// Shared by the seed apps' tests: a fixed-seed event generator with out-of-order, too-late and
// duplicate events, and two ways to run an app over them on a real nats-server (in process, and as
// `weir run` child processes SIGKILLed mid-stream).
import { describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { appNames, startRuntime, type RuntimeMetrics } from "../../runtime/mod.ts";
import { ensureAppStreams, loadApp } from "../../runtime/internal.ts";
import { client, KILLED_LOCK_TTL, publishAll, readStream, rng, spawnWeir, startNats, storedCoverage, storedProgress, waitFor, type NatsServer, type StoredMessage } from "../../runtime/testing/mod.ts";
import type { Generated } from "./generator.ts";


export interface AppRun {
  outputs: StoredMessage[];
  metrics?: RuntimeMetrics;
  /** With crashes: stored progress (stream sequence) when each run was killed. */
  killedAt?: number[];
  lastSeq?: number;
}

/** Publishes the events, runs the app in this process until it has processed them, reads its outputs. */
export async function runInProcess(nats: NatsServer, appPath: string, events: readonly Generated<unknown>[], opts: { workers?: number; sink?: string } = {}): Promise<AppRun> {
  await using c = await client(nats.url);
  const app = await loadApp(appPath);
  await ensureAppStreams(await jetstreamManager(c.nc), app);
  await publishAll(c.js, events);
  const rt = await startRuntime({ app: appPath, nats: nats.url, workers: opts.workers ?? 2, logLevel: "warn", ...(opts.sink ? { sink: opts.sink } : {}) });
  await rt.drained();
  const metrics = rt.metrics();
  await rt.stop();
  return { outputs: await outputsOf(c.nc, app), metrics };
}

/** The app's output stream (none when it declares no outputs). */
async function outputsOf(nc: Parameters<typeof readStream>[0], app: { name: string; actors: readonly { outputs: readonly string[] }[] }): Promise<StoredMessage[]> {
  return app.actors.some((a) => a.outputs.length > 0) ? readStream(nc, appNames(app.name).output) : [];
}

/**
 * The same with `weir run` child processes: each is SIGKILLed at a random moment (`kills` times),
 * then a last one runs until stored progress covers the stream.
 */
export async function runWithCrashes(
  nats: NatsServer,
  appPath: string,
  events: readonly Generated<unknown>[],
  kills: number,
  seed: number,
  opts: { maxInFlight?: number; args?: string[] } = {},
): Promise<AppRun> {
  await using c = await client(nats.url);
  const app = await loadApp(appPath);
  await ensureAppStreams(await jetstreamManager(c.nc), app);
  const lastSeq = await publishAll(c.js, events);
  const parts = app.partitions ?? 32;
  const progress = () => storedProgress(c.nc, app.name, parts);
  // A small credit slows the run down enough that the kills land mid-stream.
  const args = [appPath, "--nats", nats.url, "--workers", "2", "--max-in-flight", String(opts.maxInFlight ?? 64), "--no-progress", "--no-http", ...KILLED_LOCK_TTL, ...(opts.args ?? [])];
  const child = () => spawnWeir(args);
  const rnd = rng(seed);
  const killedAt: number[] = [];
  for (let i = 0; i < kills; i++) {
    const { proc, started } = child();
    await started;
    // The first kill comes early, so at least one run surely dies with most of the stream ahead.
    await Bun.sleep(i === 0 ? 100 + Math.floor(rnd() * 200) : 150 + Math.floor(rnd() * 700));
    proc.kill("SIGKILL");
    await proc.exited;
    // How far some partition's stored state reaches: a kill after it was stored, before the end, is mid-stream.
    killedAt.push((await storedCoverage(c.nc, app.name, parts)).most);
  }
  process.stderr.write(`  ${app.name}: furthest stored partition at each SIGKILL: ${killedAt.join(", ")} of ${lastSeq}\n`);
  const { proc, started, out } = child();
  await started;
  await waitFor(
    async () => {
      if (proc.exitCode !== null) {
        await out.drained;
        throw new Error(`the last run exited with ${proc.exitCode}`);
      }
      return (await progress()) >= lastSeq;
    },
    180_000,
    "the last run to cover the stream",
  ).catch(async (err) => {
    proc.kill("SIGKILL");
    await proc.exited;
    throw new Error(`${(err as Error).message}\n--- weir run log ---\n${out.log}`);
  });
  proc.kill("SIGTERM");
  await proc.exited;
  await out.drained;
  // Warnings of the last run are worth seeing even when the test passes.
  const warnings = out.log.split("\n").filter((l) => / (WARN|ERROR) /.test(l));
  if (warnings.length) process.stderr.write(`  ${app.name}: the last run warned:\n    ${warnings.slice(-5).join("\n    ")}\n`);
  return { outputs: await outputsOf(c.nc, app), killedAt, lastSeq };
}

/** The latest revision of each window result in an output stream, by `key|start`. */
export function finalWindows<R>(outputs: readonly StoredMessage[], subjectPrefix: string): Map<string, { value: R; count: number; end: number }> {
  const out = new Map<string, { value: R; count: number; end: number; revision: number }>();
  for (const m of outputs) {
    if (!m.subject.startsWith(subjectPrefix)) continue;
    const r = m.value as { key: string; start: number; end: number; value: R; count: number; kind: string; revision: number };
    const id = `${r.key}|${r.start}`;
    if (r.kind === "retract") {
      out.delete(id);
      continue;
    }
    if (r.kind === "early") continue;
    const prev = out.get(id);
    if (!prev || r.revision >= prev.revision) out.set(id, { value: r.value, count: r.count, end: r.end, revision: r.revision });
  }
  return out;
}

/**
 * True when two runs stored the same output messages: the same message ids with the same contents,
 * each once (order across keys may differ). Prints the first difference otherwise.
 */
export function sameOutputs(a: AppRun, b: AppRun): boolean {
  const lines = (r: AppRun) => r.outputs.map((m) => `${m.headers["Nats-Msg-Id"]} ${m.subject} ${JSON.stringify(m.value)}`).sort();
  const x = lines(a);
  const y = lines(b);
  if (new Set(x).size !== x.length) {
    process.stderr.write(`  duplicate output: ${x.find((l, i) => x.indexOf(l) !== i)}\n`);
    return false;
  }
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if (x[i] !== y[i]) {
      process.stderr.write(`  first differing output (${x.length} vs ${y.length}):\n    ${x[i]}\n    ${y[i]}\n`);
      return false;
    }
  }
  return true;
}

export interface WindowValue<R> {
  value: R;
  count: number;
  end: number;
}

/**
 * Window results against brute force: every window emitted equals the expected one, and every
 * expected window ending at or before `surelyClosed` (a lower bound of the final watermark) was
 * emitted. Returns how many windows were checked as closed.
 */
export function expectWindows<R>(got: ReadonlyMap<string, WindowValue<R>>, want: ReadonlyMap<string, WindowValue<R>>, surelyClosed: number): number {
  for (const [id, w] of got) expect({ id, value: w.value, count: w.count, end: w.end }).toEqual({ id, ...want.get(id)! });
  let closed = 0;
  for (const [id, w] of want) {
    if (w.end - 1 > surelyClosed) continue;
    expect({ id, emitted: got.has(id) }).toEqual({ id, emitted: true });
    closed++;
  }
  return closed;
}

/**
 * The too-late events (by id) are exactly the ones on the late subjects, each with a reason.
 * `windowed` says which events go to windows at all (others are never late).
 */
export function expectLate<E>(
  outputs: readonly StoredMessage[],
  latePrefix: string,
  events: readonly Generated<E>[],
  idOf: (event: E) => string,
  windowed: (event: E) => boolean = () => true,
): void {
  const late = outputs.filter((m) => m.subject.startsWith(latePrefix));
  const got = new Set(late.map((m) => idOf((m.value as { event: E }).event)));
  expect(got).toEqual(new Set(events.filter((e) => e.cls === "toolate" && windowed(e.value)).map((e) => e.id)));
  for (const m of late) expect((m.value as { reason: string }).reason).toContain("too late");
}

/**
 * The two tests every seed app has: a run in this process checked against brute force (`what`
 * names it), and a run as `weir run` processes SIGKILLed 4 times mid-stream that must pass the same
 * check and store the very same output messages as the first.
 */
export function appSuite<E>(title: string, opts: { app: string; events: Generated<E>[]; what: string; check: (run: AppRun, events: readonly Generated<E>[]) => void; seed: number }): void {
  describe(title, () => {
    let reference: AppRun | undefined;
    test(opts.what, async () => {
      await using nats = await startNats();
      reference = await runInProcess(nats, opts.app, opts.events);
      opts.check(reference, opts.events);
    });
    test("SIGKILLed 4 times mid-stream: the same results and the very same output messages", async () => {
      await using nats = await startNats();
      const run = await runWithCrashes(nats, opts.app, opts.events, 4, opts.seed);
      opts.check(run, opts.events);
      expect(sameOutputs(run, reference!)).toBe(true);
      expect(run.killedAt!.some((p) => p < run.lastSeq!)).toBe(true);
    });
  });
}
