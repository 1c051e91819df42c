import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { jetstreamManager } from "@nats-io/jetstream";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadApp } from "../contract/mod.ts";
import { startNats, appNames, ensureAppStreams, type NatsServer } from "../nats/mod.ts";
import { startRuntime } from "../mod.ts";
import { openSink } from "../sinks/mod.ts";
import { kvViews, kvSnapshotStore } from "../state/mod.ts";
import { spawn } from "bun";
import { client, KILLED_LOCK_TTL, MAIN, publishAll, readStream, rng, waitFor, weirCli, scratchSchema, type StoredMessage } from "../testing/mod.ts";

const APP = new URL("../testdata/replay-app.ts", import.meta.url).pathname;
const FIRST_BATCH = 2_000;
const TOTAL = 3_000;
const DEDUP_WINDOW_MS = 1_000;

/** Fixed-seed events: 30 keys, event times out of order by up to 1.5 s, some failing (n = 13), some invalid. */
function workload() {
  const random = rng(11);
  return Array.from({ length: TOTAL }, (_, i) => {
    const k = `k${Math.floor(random() * 30)}`;
    const t = 1_700_000_000_000 + i * 50 + Math.floor(random() * 3_000) - 1_500;
    const roll = random();
    const n = roll < 0.004 ? 13 : 1 + Math.floor(random() * 12);
    const value = roll > 0.996 ? { id: `e${i}`, k, n: "not a number", t } : { id: `e${i}`, k, n, t };
    return { subject: `rp.in.${k}`, value };
  });
}

/** What a run left behind, comparable across namespaces. */
interface Effects {
  /** Messages in the output and dead-letter streams (a message id stored twice counts twice). */
  stored: { outputs: number; deadLetters: number };
  /** Output messages by message id: subject without the namespace prefix, and payload. */
  outputs: Map<string, { subject: string; value: unknown }>;
  deadLetters: Map<string, { reason: string; value: unknown }>;
  events: unknown[];
  totals: unknown[];
  view: { key: string; value: unknown }[];
}

let nats: NatsServer;
let sink: string;
/** Stored before the second batch was published. */
let between: Date;
let live: Effects;

async function effects(namespace: string | undefined, sinkUrl = sink): Promise<Effects> {
  await using c = await client(nats.url);
  const names = appNames("replay", namespace);
  const byId = (msgs: StoredMessage[]) => new Map(msgs.map((m) => [m.headers["Nats-Msg-Id"]!, m] as const));
  const out = await readStream(c.nc, names.output);
  const dlq = await readStream(c.nc, names.dlq);
  const outputs = new Map([...byId(out)].map(([id, m]) => [id, { subject: m.subject.slice(names.outputPrefix.length), value: m.value }]));
  const deadLetters = new Map([...byId(dlq)].map(([id, m]) => [id, { reason: m.headers["Weir-Error"]!, value: m.value }]));
  const db = openSink(sinkUrl, { scope: names.sinkScope, tablePrefix: names.tablePrefix });
  await db.prepare((await loadApp(APP)).tables!);
  const sorted = (rows: Record<string, unknown>[], key: string) => rows.sort((a, b) => String(a[key]).localeCompare(String(b[key])));
  const events = sorted(await db.rows("events"), "id");
  const totals = sorted(await db.rows("totals"), "k");
  await db.close();
  const view = await (await kvViews(c.nc, names.views)).list("totals");
  return { stored: { outputs: out.length, deadLetters: dlq.length }, outputs, deadLetters, events, totals, view };
}

function expectSame(a: Effects, b: Effects) {
  expect(a.stored).toEqual(b.stored);
  expect(a.stored).toEqual({ outputs: a.outputs.size, deadLetters: a.deadLetters.size });
  expect([...a.outputs].sort()).toEqual([...b.outputs].sort());
  expect([...a.deadLetters].sort()).toEqual([...b.deadLetters].sort());
  expect(a.events).toEqual(b.events);
  expect(a.totals).toEqual(b.totals);
  expect(a.view).toEqual(b.view);
}

const replay = (...args: string[]) => weirCli("replay", APP, "--nats", nats.url, "--sink", sink, "--log-level", "warn", "--no-progress", ...KILLED_LOCK_TTL, ...args);

beforeAll(async () => {
  nats = await startNats();
  sink = `sqlite:${join(mkdtempSync(join(tmpdir(), "weir-replay-")), "out.db")}`;
  await using c = await client(nats.url);
  // A dedup window of 1 s: a message id sent again later is stored again, so what keeps a replay
  // into live from duplicating outputs is its fence, not the broker's window.
  await ensureAppStreams(await jetstreamManager(c.nc), await loadApp(APP), { dedupWindowMs: DEDUP_WINDOW_MS });
  const events = workload();
  await publishAll(c.js, events.slice(0, FIRST_BATCH));
  // The stream stores its own time: the second batch is stored after `between`.
  await Bun.sleep(300);
  between = new Date();
  await Bun.sleep(300);
  await publishAll(c.js, events.slice(FIRST_BATCH));
  const rt = await startRuntime({ app: APP, nats: nats.url, workers: 2, logLevel: "warn", sink });
  await rt.drained();
  await rt.stop();
  live = await effects(undefined);
  // The workload exercises every effect.
  expect(live.outputs.size).toBeGreaterThan(500);
  expect([...live.deadLetters.values()].filter((d) => d.reason === "HandlerError").length).toBeGreaterThan(3);
  expect([...live.deadLetters.values()].filter((d) => d.reason === "ValidationError").length).toBeGreaterThan(3);
  expect(live.events.length).toBeGreaterThan(2_900);
  expect(live.view.length).toBe(30);
});

afterAll(async () => {
  await nats?.[Symbol.asyncDispose]();
});

describe("weir replay (real nats-server, SQLite, PostgreSQL)", () => {
  test("two replays of one range into two namespaces give identical outputs, dead letters, rows and views", async () => {
    await using pg = await scratchSchema();
    const a = await replay("--from", "700", "--to", "2600", "--into", "a", "--workers", "2");
    expect(a.err).toBe("");
    expect(a.code).toBe(0);
    expect(a.out).toContain("replayed sequences 700..2600 of app replay");
    // Another worker count, another database: the same effects.
    const b = await replay("--from", "700", "--to", "2600", "--into", "b", "--workers", "1", "--sink", pg.url());
    expect(b.code).toBe(0);
    const ea = await effects("a");
    expectSame(ea, await effects("b", pg.url()));
    expect(ea.outputs.size).toBeGreaterThan(200);
    // Starting at 700 from empty state, the running totals differ from the live app's.
    expect(ea.totals).not.toEqual(live.totals);
    // The namespace's dead letters are triaged apart from the live app's.
    const stats = await weirCli("dlq", "stats", "replay", "--namespace", "a", "--nats", nats.url);
    expect(stats.code).toBe(0);
    expect(stats.out).toContain(`${ea.deadLetters.size} dead letters of app replay in namespace a`);
    expect(stats.out).toMatch(/\d+  HandlerError  handler of acc failed: unlucky e# \(after # attempts\)/);
    const redrive = await weirCli("dlq", "redrive", "replay", "--namespace", "a", "--nats", nats.url);
    expect(redrive.code).toBe(2);

    // SIGKILLed once it has stored some progress in every partition (positions of the partitions'
    // own streams), then run again: it resumes, with the same effects.
    const child = spawn([process.execPath, MAIN, "replay", APP, "--nats", nats.url, "--sink", sink, "--from", "700", "--to", "2600", "--into", "c", ...KILLED_LOCK_TTL], { stdio: ["ignore", "ignore", "ignore"] });
    await using c = await client(nats.url);
    const progress = async () => {
      const store = await kvSnapshotStore(c.nc, { bucket: appNames("replay", "c").bucket });
      return Math.min(...(await Promise.all([0, 1, 2, 3].map(async (p) => (await store.loadMeta(p))?.lastSeq ?? 0))));
    };
    await waitFor(async () => (await progress()) > 0, 60_000, "the replay into c to store progress");
    child.kill(9);
    await child.exited;
    const killedAt = await progress();
    console.log(`  replay into c killed with progress ${killedAt} (the least of its partitions' stored positions)`);
    const resumed = await replay("--from", "700", "--to", "2600", "--into", "c");
    expect(resumed.code).toBe(0);
    expectSame(await effects("c"), ea);

    // The same range again finds it done; another range is refused rather than mixed in.
    expect((await replay("--from", "700", "--to", "2600", "--into", "a")).code).toBe(0);
    expectSame(await effects("a"), ea);
    const other = await replay("--from", "800", "--into", "a");
    expect(other.code).toBe(1);
    expect(other.err).toContain("namespace a holds a replay of sequences 700..2600");
  });

  test("a replay of the whole stream reproduces the live run exactly; --from a time starts at the first message stored after it", async () => {
    const full = await replay("--from", "1", "--into", "full");
    expect(full.code).toBe(0);
    expect(full.out).toContain(`replayed sequences 1..${TOTAL}`);
    expectSame(await effects("full"), live);

    const tail = await replay("--from", between.toISOString(), "--into", "tail");
    expect(tail.code).toBe(0);
    expect(tail.out).toContain(`replayed sequences ${FIRST_BATCH + 1}..${TOTAL}`);
  });

  test("a replay into live repeats no effect, and restores rows and views the stores lost", async () => {
    await Bun.sleep(DEDUP_WINDOW_MS + 100);
    const again = await replay("--from", "1", "--into", "live");
    expect(again.code).toBe(0);
    expect(again.out).toContain(`replayed sequences 1..${TOTAL}`);
    // Nothing published twice, nothing rewritten differently.
    expectSame(await effects(undefined), live);

    // The database and the view bucket are lost (say, restored from an empty backup).
    const db = new Database(sink.slice("sqlite:".length));
    db.exec("DELETE FROM events; DELETE FROM totals; DELETE FROM weir_offsets WHERE scope = 'replay'");
    db.close();
    await using c = await client(nats.url);
    await (await jetstreamManager(c.nc)).streams.delete(`KV_${appNames("replay").views}`);
    const repair = await replay("--from", "1", "--into", "live", "--workers", "1");
    expect(repair.code).toBe(0);
    expectSame(await effects(undefined), live);

    // It never goes past the live app.
    const ahead = await replay("--from", "1", "--to", String(TOTAL + 5), "--into", "live");
    expect(ahead.code).toBe(1);
    expect(ahead.err).toContain(`stops where the live app is (sequence ${TOTAL})`);
  });

  test("bad arguments: one line, exit 2", async () => {
    for (const [args, msg] of [
      [["--into", "a"], "replay needs --from"],
      [["--from", "1"], "replay needs --into"],
      [["--from", "1", "--into", "9lives"], "--into must be"],
      [["--from", "yesterday-ish", "--into", "a"], "--from must be a stream sequence or an ISO time"],
      [["--from", "0", "--into", "a"], "--from must be a stream sequence (1 or more)"],
    ] as const) {
      const r = await replay(...args);
      expect({ code: r.code, lines: r.err.trim().split("\n").length }).toEqual({ code: 2, lines: 1 });
      expect(r.err).toContain(msg);
    }
  });
});
