import { describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { FencedError, loadApp, SnapshotError, type AppDefinition, type Round, type RoundResult, type RoutedEvent } from "../contract/mod.ts";
import { appNames, ensureAppStreams } from "../nats/mod.ts";
import { consoleLogger } from "../observe/mod.ts";
import { DLQ_HEADERS, memoryPublisher, pipelinedPublisher, type Publisher } from "../output/mod.ts";
import { decodePayload, partitionOf } from "../route/mod.ts";
import { kvSnapshotStore, memorySnapshotStore, SNAPSHOT_VERSION, type SnapshotStore } from "../state/mod.ts";
import { client, manualScheduler, readStream, startNats, type ManualScheduler, type StoredMessage } from "../testing/mod.ts";
import { attempts } from "../testdata/retry-app.ts";
import { createActorHost, type ActorHost } from "./mod.ts";

const HOST_APP = new URL("../testdata/host-app.ts", import.meta.url).pathname;
const TIMER_APP = new URL("../testdata/timer-app.ts", import.meta.url).pathname;
const PARTS = [0, 1, 2, 3];

/** A host's surroundings: where its state and its effects go, and how a test reads them back. */
interface HostEnv extends AsyncDisposable {
  store: SnapshotStore;
  clock: ManualScheduler;
  /** A host of partitions 0-3 (or of `partitions`); with `epochs`, its writes are fenced by them. */
  newHost(epochs?: ReadonlyMap<number, number>, partitions?: readonly number[]): ActorHost;
  outputs(): Promise<StoredMessage[]>;
  deadLetters(): Promise<StoredMessage[]>;
}

type OpenEnv = (appPath: string, startMs: number) => Promise<HostEnv>;

const host =
  (app: AppDefinition, store: SnapshotStore, publisher: Publisher, dlqSubject: string, clock: ManualScheduler) =>
  (epochs?: ReadonlyMap<number, number>, partitions: readonly number[] = PARTS) =>
    createActorHost({ app, partitions, store, publisher, dlqSubject, scheduler: clock, log: consoleLogger("silent"), ...(epochs ? { epochs } : {}) });

/** A real nats-server: KV snapshot store (writing records by `kv.put` or through the pipelined publisher), JetStream outputs. */
const natsEnv =
  (writes: "kv.put" | "pipelined"): OpenEnv =>
  async (appPath, startMs) => {
    const nats = await startNats();
    const c = await client(nats.url);
    const app = await loadApp(appPath);
    const streams = await ensureAppStreams(await jetstreamManager(c.nc), app);
    const store = await kvSnapshotStore(c.nc, { bucket: streams.bucket, ...(writes === "pipelined" ? { publisher: pipelinedPublisher(c.nc) } : {}) });
    const clock = manualScheduler(startMs);
    return {
      store,
      clock,
      newHost: host(app, store, pipelinedPublisher(c.nc), streams.dlqSubject, clock),
      outputs: () => readStream(c.nc, appNames(app.name).output),
      deadLetters: () => readStream(c.nc, appNames(app.name).dlq),
      async [Symbol.asyncDispose]() {
        await c[Symbol.asyncDispose]();
        await nats[Symbol.asyncDispose]();
      },
    };
  };

/** No broker at all: the in-memory snapshot store and publisher, in virtual time. */
const memoryEnv: OpenEnv = async (appPath, startMs) => {
  const app = await loadApp(appPath);
  const names = appNames(app.name);
  const outputs = [...new Set(app.actors.flatMap((a) => a.outputs))];
  const publisher = memoryPublisher({ streams: [{ subjects: outputs }, { subjects: [names.dlqSubject] }] });
  const store = memorySnapshotStore();
  const clock = manualScheduler(startMs);
  const read = (pattern: string) =>
    publisher.messages(pattern).map((m) => ({ subject: m.subject, seq: m.seq, headers: m.headers, value: decodePayload(m.data, m.headers["Content-Type"]) }));
  return {
    store,
    clock,
    newHost: host(app, store, publisher, names.dlqSubject, clock),
    outputs: async () => read(">").filter((m) => m.subject !== names.dlqSubject),
    deadLetters: async () => read(names.dlqSubject),
    async [Symbol.asyncDispose]() {},
  };
};

const BACKENDS: [string, OpenEnv][] = [
  ["a real KV store, writes via kv.put", natsEnv("kv.put")],
  ["a real KV store, writes via pipelined", natsEnv("pipelined")],
  ["the in-memory store and publisher", memoryEnv],
];

/**
 * Applies a round and then waits for its held keys (retries run on the host's clock, not inline):
 * the two results added up.
 */
async function settled(h: ActorHost, round: Round): Promise<RoundResult> {
  const a = await h.process(round);
  const b = await h.drain();
  return { ...a, processed: a.processed + b.processed, emitted: a.emitted + b.emitted, dlq: a.dlq + b.dlq, fired: (a.fired ?? 0) + (b.fired ?? 0) };
}

const ev = (seq: number, k: string, op: string, n: number): RoutedEvent => [seq, seq * 1000, "h.in", 0, k, partitionOf(k, 4), { k, op, n }];
const stateOf = async (store: SnapshotStore, k: string) =>
  (await store.loadActor("counter", k))?.state as { sum: number; blob: string } | undefined;

// One suite, run on each backend: the KV store (both ways it writes records) and the in-memory one.
describe.each(BACKENDS)("actor host on %s", (_name, open) => {
  test("idle actors are evicted after a snapshot and reloaded from it on their next event", async () => {
    await using env = await open(HOST_APP, 1_000);
    const { store, clock, newHost } = env;
    const host = newHost();
    await host.init();
    await host.process({ id: 1, through: 2, events: [ev(1, "a", "add", 5), ev(2, "b", "add", 1)] });
    expect(host.size()).toBe(2);
    await clock.advance(10);
    await host.snapshot();
    expect(host.size()).toBe(0);
    await host.process({ id: 2, through: 3, events: [ev(3, "a", "add", 7)] });
    await host.snapshot();
    expect((await stateOf(store, "a"))?.sum).toBe(12);
    expect((await stateOf(store, "b"))?.sum).toBe(1);
  });

  test("fencing: once a newer owner has claimed the partitions, the old host's snapshot stores nothing", async () => {
    await using env = await open(HOST_APP, 1_000);
    const { store, newHost } = env;
    const epochs = (e: number) => new Map(PARTS.map((p) => [p, e]));
    const old = newHost(epochs(3));
    await old.init();
    await old.process({ id: 1, through: 2, events: [ev(1, "a", "add", 5), ev(2, "b", "add", 1)] });
    await old.snapshot();
    await old.process({ id: 2, through: 3, events: [ev(3, "a", "add", 7), ev(4, "c", "add", 2)] });
    // The partitions move while the old host is paused: the new owner claims them at init.
    const next = newHost(epochs(8));
    await next.init();
    const err = await old.snapshot().catch((e) => e);
    expect(err).toBeInstanceOf(FencedError);
    expect(err.message).toContain("epoch 8");
    // Nothing of the old host's late snapshot landed: states and progress are the first snapshot's.
    expect((await stateOf(store, "a"))?.sum).toBe(5);
    expect(await stateOf(store, "c")).toBeUndefined();
    const pa = partitionOf("a", 4);
    expect(await store.loadMeta(pa)).toMatchObject({ lastSeq: 2, epoch: 8 });
    // The new owner goes on from there.
    await next.process({ id: 1, through: 4, events: [ev(3, "a", "add", 7), ev(4, "c", "add", 2)] });
    await next.snapshot();
    expect((await stateOf(store, "a"))?.sum).toBe(12);
    expect((await stateOf(store, "c"))?.sum).toBe(2);
    expect(await store.loadMeta(pa)).toMatchObject({ lastSeq: 4, epoch: 8 });
  });

  test("a partition handed from one running host to another: dropped after a snapshot, added with a newer epoch, it goes on where it was stored", async () => {
    await using env = await open(HOST_APP, 1_000);
    const { store, newHost, outputs } = env;
    const pa = partitionOf("a", 4);
    const pb = partitionOf("b", 4);
    expect(pa).not.toBe(pb);
    const epochs = (e: number) => new Map(PARTS.map((p) => [p, e]));
    const one = newHost(epochs(1), [pa, pb]);
    const two = newHost(epochs(1), [PARTS.find((p) => p !== pa && p !== pb)!]);
    await one.init();
    await two.init();
    await one.process({ id: 1, partition: pa, through: 2, events: [ev(1, "a", "add", 5), ev(2, "a", "add", 1)] });
    await one.process({ id: 2, partition: pb, through: 1, events: [ev(1, "b", "add", 3)] });
    // pa moves from one to two.
    await one.snapshot();
    await one.drop([pa]);
    expect(one.positions().map((p) => p.partition)).toEqual([pb]);
    await expect(one.process({ id: 9, partition: pa, through: 3, events: [ev(3, "a", "add", 10)] })).rejects.toThrow(`a round of partition ${pa} reached a host that does not own it`);
    await two.add([pa], new Map([[pa, 2]]));
    expect(two.positions().find((p) => p.partition === pa)?.lastSeq).toBe(2);
    expect(await store.loadMeta(pa)).toMatchObject({ lastSeq: 2, epoch: 2 });
    // What was stored before the hand-over is skipped; the rest applies on the state as stored.
    const r = await two.process({ id: 1, partition: pa, through: 3, events: [ev(2, "a", "add", 1), ev(3, "a", "add", 10)] });
    expect(r).toMatchObject({ processed: 1, skipped: 1 });
    await two.snapshot();
    expect((await stateOf(store, "a"))?.sum).toBe(16);
    expect(await store.loadMeta(pa)).toMatchObject({ lastSeq: 3, epoch: 2 });
    // The host that let pa go still runs its other partition.
    await one.process({ id: 3, partition: pb, through: 2, events: [ev(2, "b", "add", 4)] });
    await one.snapshot();
    expect((await stateOf(store, "b"))?.sum).toBe(7);
    expect((await outputs()).map((m) => m.value)).toEqual([{ sum: 5 }, { sum: 6 }, { sum: 3 }, { sum: 16 }, { sum: 7 }]);
  });

  test("after a restart, events already reflected in stored state are skipped (partition and per-key)", async () => {
    await using env = await open(HOST_APP, 1_000);
    const { store, newHost } = env;
    const first = newHost();
    await first.init();
    await first.process({ id: 1, through: 2, events: [ev(1, "a", "add", 1), ev(2, "a", "add", 2)] });
    await first.snapshot();
    // A crash after an actor's state was written but before its partition's progress was: the
    // actor record is ahead of the partition meta.
    await store.saveActors([{ actor: "counter", key: "a", record: { v: SNAPSHOT_VERSION, seq: 4, state: { sum: 103, blob: "" } } }]);

    const second = newHost();
    await second.init();
    const r = await second.process({
      id: 1,
      through: 5,
      events: [ev(1, "a", "add", 1), ev(2, "a", "add", 2), ev(3, "a", "add", 100), ev(4, "a", "add", 0), ev(5, "a", "add", 1000)],
    });
    expect(r).toMatchObject({ processed: 1, skipped: 4 });
    await second.snapshot();
    expect((await stateOf(store, "a"))?.sum).toBe(1103);
  });

  test("a failing handler or an undeclared output dead-letters that event and the key moves on", async () => {
    await using env = await open(HOST_APP, 1_000);
    const { store, clock, newHost } = env;
    const host = newHost();
    await host.init();
    const r = await clock.until(settled(host, {
      id: 1,
      through: 4,
      events: [ev(1, "a", "add", 1), ev(2, "a", "fail", 2), ev(3, "a", "stray", 3), ev(4, "a", "add", 4)],
    }));
    expect(r).toMatchObject({ processed: 2, dlq: 2, emitted: 2 });
    await host.snapshot();
    expect((await stateOf(store, "a"))?.sum).toBe(5);
    const dlq = await env.deadLetters();
    expect(dlq.map((m) => [m.headers[DLQ_HEADERS.error], m.headers[DLQ_HEADERS.seq]])).toEqual([
      ["HandlerError", "2"],
      ["UndeclaredOutputError", "3"],
    ]);
    expect(dlq[0]!.headers[DLQ_HEADERS.reason]).toContain("refusing 2");
    expect(dlq[1]!.headers[DLQ_HEADERS.reason]).toContain('"elsewhere"');
    expect(dlq[0]!.value).toEqual({ k: "a", op: "fail", n: 2 });
    const out = await env.outputs();
    expect(out.map((m) => m.value)).toEqual([{ sum: 1 }, { sum: 5 }]);
  });

  test("a handler that changes its state in place and then throws leaves no trace: each attempt starts from the state before the event", async () => {
    await using env = await open(HOST_APP, 1_000);
    const { store, clock, newHost } = env;
    const host = newHost();
    await host.init();
    // "a" is new in this run (restored from its initial state and the events since); "b" is
    // stored and reloaded (restored from the store and the events since).
    await host.process({ id: 1, through: 2, events: [ev(1, "b", "add", 10), ev(2, "b", "add", 1)] });
    await clock.advance(10);
    await host.snapshot();
    expect(host.size()).toBe(0);
    const r = await clock.until(settled(host, {
      id: 2,
      through: 7,
      events: [ev(3, "a", "add", 5), ev(4, "a", "spoil", 100), ev(5, "a", "add", 1), ev(6, "b", "add", 2), ev(7, "b", "spoil", 1000)],
    }));
    expect(r).toMatchObject({ processed: 3, dlq: 2 });
    const r2 = await clock.until(settled(host, { id: 3, through: 9, events: [ev(8, "a", "spoil", 7), ev(9, "b", "add", 4)] }));
    expect(r2).toMatchObject({ processed: 1, dlq: 1 });
    await host.snapshot();
    expect(await stateOf(store, "a")).toEqual({ sum: 6, blob: "" });
    expect(await stateOf(store, "b")).toEqual({ sum: 17, blob: "" });
    const reasons = (await env.deadLetters()).map((m) => m.headers[DLQ_HEADERS.reason]);
    // Every attempt (three each) saw the state from before its event. (Keys retry independently:
    // their dead letters come in the order their backoffs end.)
    expect(reasons).toHaveLength(3);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringContaining("spoiled a state whose sum was 5 (after 3 attempts)"),
        expect.stringContaining("spoiled a state whose sum was 13 (after 3 attempts)"),
        expect.stringContaining("spoiled a state whose sum was 6 (after 3 attempts)"),
      ]),
    );
  });

  test("a state larger than the server's max payload goes to the object store and comes back", async () => {
    await using env = await open(HOST_APP, 1_000);
    const { store, clock, newHost } = env;
    const size = 3 * 1024 * 1024;
    const host = newHost();
    await host.init();
    await host.process({ id: 1, through: 1, events: [ev(1, "big", "grow", size)] });
    await clock.advance(1);
    await host.snapshot();
    expect(host.size()).toBe(0);
    await host.process({ id: 2, through: 2, events: [ev(2, "big", "add", 1)] });
    await host.snapshot();
    const s = await stateOf(store, "big");
    expect(s?.blob.length).toBe(size);
    expect(s?.sum).toBe(1);
  });

  test("a snapshot written in an unknown format version is refused, not misread", async () => {
    await using env = await open(HOST_APP, 1_000);
    const { store, newHost } = env;
    await store.saveMeta(0, { v: 99, lastSeq: 1, savedAt: 0 });
    await expect(newHost().init()).rejects.toThrow(SnapshotError);
  });
});

describe.each(BACKENDS)("timers in the actor host on %s", (_name, open) => {
  // [seq, jsTime, subject, actor, key, partition, value, eventTime, watermarkBefore]
  const tev = (seq: number, k: string, t: number, n: number, wm: number, op = "add"): RoutedEvent => [
    seq, seq, "tm.in", 0, k, partitionOf(k, 4), { k, t, n, op }, t, wm,
  ];

  async function timerSetup() {
    const env = await open(TIMER_APP, 1_000_000);
    const stored = env.outputs;
    return { ...env, [Symbol.asyncDispose]: () => env[Symbol.asyncDispose](), outputs: async () => (await stored()).map((m) => [m.subject, m.value]) };
  }

  test("event-time timers fire when the watermark passes them, before the key's next event, and survive a restart", async () => {
    await using env = await timerSetup();
    const { store, newHost, outputs } = env;
    const first = newHost();
    await first.init();
    // Buckets [0, 10s) for a and b; the round's watermark (5 s) closes nothing.
    await first.process({ id: 1, through: 3, watermark: 5_000, events: [tev(1, "a", 1_000, 1, -Infinity), tev(2, "a", 4_000, 2, 0), tev(3, "b", 2_000, 5, 0)] });
    expect(await outputs()).toEqual([]);
    // a's next event comes after the watermark passed 9 999: a's bucket closes first, then the event
    // (at 12 s, a new bucket) is applied; an event at or below the watermark is late.
    const r = await first.process({ id: 2, through: 5, watermark: 11_000, events: [tev(4, "a", 12_000, 4, 10_500), tev(5, "a", 9_000, 9, 11_000)] });
    expect(r.fired).toBe(2); // a's [0,10s) before seq 4, b's [0,10s) at the end of the round
    await first.snapshot();
    expect(await outputs()).toEqual([
      ["tm.out.sum.a", { start: 0, sum: 3, watermark: 10_500 }],
      ["tm.out.late.a", { t: 9_000 }],
      ["tm.out.sum.b", { start: 0, sum: 5, watermark: 11_000 }],
    ]);
    const meta = await store.loadMeta(partitionOf("a", 4));
    expect(meta?.timers).toContainEqual(["tally", "a"]);
    expect((await store.loadActor("tally", "a"))?.timers).toEqual([[19_999, "e", "10000"]]);

    // A new host loads a's pending timer at start and fires it on the next round's watermark,
    // though no event of a arrives.
    const second = newHost();
    await second.init();
    expect(second.size()).toBeGreaterThanOrEqual(1);
    await second.process({ id: 1, through: 6, watermark: 25_000, events: [tev(6, "c", 30_000, 1, 20_000)] });
    await second.snapshot();
    expect((await outputs()).slice(3)).toEqual([["tm.out.sum.a", { start: 10_000, sum: 4, watermark: 25_000 }]]);
    expect((await store.loadActor("tally", "a"))?.timers).toBeUndefined();
  });

  test("a failed handler or onTimer that spoiled its state in place leaves no trace; the failed timer does not fire again", async () => {
    await using env = await timerSetup();
    const { store, clock, newHost, outputs } = env;
    const host = newHost();
    await host.init();
    const r1 = await clock.until(settled(host, {
      id: 1,
      through: 3,
      watermark: 3_000,
      events: [tev(1, "x", 1_000, 5, -Infinity), tev(2, "x", 2_000, 0, 0, "spoil"), tev(3, "y", 3_000, 13, 0)],
    }));
    expect(r1).toMatchObject({ processed: 2, dlq: 1 });
    const r2 = await clock.until(host.process({ id: 2, through: 4, watermark: 11_000, events: [] }));
    expect(r2).toMatchObject({ fired: 1, dlq: 1 });
    await host.process({ id: 3, through: 5, watermark: 30_000, events: [] });
    await host.snapshot();
    expect(await outputs()).toEqual([["tm.out.sum.x", { start: 0, sum: 5, watermark: 11_000 }]]);
    expect((await store.loadActor("tally", "x"))?.state).toEqual({ buckets: {}, late: 0 });
    const y = await store.loadActor("tally", "y");
    expect(y?.state).toEqual({ buckets: { "0": 13 }, late: 0 });
    expect(y?.timers).toBeUndefined();
    const dlq = await env.deadLetters();
    expect(dlq.map((m) => [m.headers[DLQ_HEADERS.key], m.headers[DLQ_HEADERS.reason]])).toEqual([
      ["x", expect.stringContaining("spoiled (after 3 attempts)")],
      ["y", expect.stringContaining("unlucky bucket (after 3 attempts)")],
    ]);
  });

  test("state TTL: a key is forgotten once the watermark passes its newest event by ttlMs, and starts over after", async () => {
    await using env = await timerSetup();
    const { store, newHost } = env;
    const idle = (seq: number, t: number, wm: number): RoutedEvent => [seq, seq, "tm.ttl", 1, "x", partitionOf("x", 4), { k: "x", t }, t, wm];
    const host = newHost();
    await host.init();
    await host.process({ id: 1, through: 2, watermark: 500, events: [idle(1, 0, -Infinity), idle(2, 600, 0)] });
    await host.snapshot();
    expect((await store.loadActor("idle", "x"))?.state).toEqual({ n: 2 });
    // 600 + 1000: still alive at watermark 1599, gone at 1600.
    await host.process({ id: 2, through: 3, watermark: 1_599, events: [] });
    await host.snapshot();
    expect((await store.loadActor("idle", "x"))?.state).toEqual({ n: 2 });
    await host.process({ id: 3, through: 4, watermark: 1_600, events: [] });
    await host.snapshot();
    expect(await store.loadActor("idle", "x")).toBeNull();
    await host.process({ id: 4, through: 5, watermark: 1_700, events: [idle(5, 1_800, 1_700)] });
    await host.snapshot();
    expect((await store.loadActor("idle", "x"))?.state).toEqual({ n: 1 });
  });

  test("a failed event's restore keeps the key's TTL where the events before it moved it", async () => {
    await using env = await timerSetup();
    const { store, clock, newHost } = env;
    const idle = (seq: number, t: number, wm: number, spoil = false): RoutedEvent => [seq, seq, "tm.ttl", 1, "x", partitionOf("x", 4), { k: "x", t, spoil }, t, wm];
    const host = newHost();
    await host.init();
    await host.process({ id: 1, through: 1, watermark: 0, events: [idle(1, 0, -Infinity)] });
    await host.snapshot();
    // 600 moves the expiry to 1600; the failed event at 700 is restored from the snapshot (expiry 1000) and the event at 600.
    const r = await clock.until(settled(host, { id: 2, through: 3, watermark: 500, events: [idle(2, 600, 0), idle(3, 700, 500, true)] }));
    expect(r).toMatchObject({ processed: 1, dlq: 1 });
    await host.process({ id: 3, through: 4, watermark: 1_599, events: [] });
    await host.snapshot();
    expect((await store.loadActor("idle", "x"))?.state).toEqual({ n: 2 });
    await host.process({ id: 4, through: 5, watermark: 1_600, events: [] });
    await host.snapshot();
    expect(await store.loadActor("idle", "x")).toBeNull();
  });

  test("processing-time timers fire on the clock; clear() deletes the key's stored state", async () => {
    await using env = await timerSetup();
    const { store, clock, newHost, outputs } = env;
    const host = newHost();
    await host.init();
    await host.process({ id: 1, through: 2, events: [tev(1, "p", 1_000, 0, -Infinity, "ping"), tev(2, "q", 1_000, 7, 0)] });
    await host.snapshot();
    expect((await store.loadActor("tally", "q"))?.state).toEqual({ buckets: { "0": 7 }, late: 0 });
    await host.tick();
    expect(await outputs()).toEqual([]);
    await clock.advance(5_000);
    await host.tick();
    await host.process({ id: 2, through: 3, events: [tev(3, "q", 2_000, 0, 1_000, "bye")] });
    await host.snapshot();
    expect(await outputs()).toEqual([["tm.out.ping.p", { at: 1_005_000 }]]);
    expect(await store.loadActor("tally", "q")).toBeNull();
  });
});

describe("actor host in virtual time (in-memory stores, manual scheduler)", () => {
  const RETRY_APP = new URL("../testdata/retry-app.ts", import.meta.url).pathname;
  const rev = (seq: number, k: string, op: string, id: string): RoutedEvent => [seq, seq, "r.in", 0, k, partitionOf(k, 4), { k, op, id }];

  const ids = async (env: HostEnv) => (await env.outputs()).map((m) => (m.value as { id: string }).id);

  test("a failing event holds back only its key: the key's later events wait behind it in order, other keys go on; its retries wait on the clock", async () => {
    await using env = await memoryEnv(RETRY_APP, 0);
    const { clock, store, newHost } = env;
    const h = newHost();
    await h.init();
    const pa = partitionOf("a", 4);
    const t0 = clock.now();
    // "a" fails twice, asking for a minute each time; "b" (and, after "a" is let go, "a"'s next event) go on.
    const r1 = await clock.until(h.process({ id: 1, through: 3, events: [rev(1, "a", "transient", "t1"), rev(2, "b", "ok", "o1"), rev(3, "a", "ok", "o2")] }));
    expect({ r1, waited: clock.now() - t0, tries: attempts.get("t1"), held: h.held(), through: h.through(pa) }).toEqual({
      r1: { id: 1, processed: 1, skipped: 0, emitted: 1, dlq: 0 },
      waited: 0,
      tries: 1,
      held: 2,
      through: 0,
    });
    expect(await ids(env)).toEqual(["o1"]);
    expect(h.nextRetryAt()).toBe(t0 + 60_000);
    await clock.advance(59_999);
    expect((await h.tick()).processed).toBe(0);
    await clock.advance(1);
    expect((await h.tick()).processed).toBe(0);
    expect({ tries: attempts.get("t1"), next: h.nextRetryAt() }).toEqual({ tries: 2, next: t0 + 120_000 });
    await clock.advance(60_000);
    const r2 = await h.tick();
    expect({ processed: r2.processed, emitted: r2.emitted, tries: attempts.get("t1"), held: h.held(), through: h.through(pa) }).toEqual({ processed: 2, emitted: 2, tries: 3, held: 0, through: 3 });
    expect(await ids(env)).toEqual(["o1", "t1", "o2"]);
    await h.snapshot();
    expect((await store.loadActor("flaky", "a"))?.state).toEqual({ done: ["t1", "o2"] });
  });

  test("a hung async handler holds back only its key: after a moment the round goes on, the key waits for the deadline and its retries", async () => {
    await using env = await memoryEnv(RETRY_APP, 0);
    const { clock, newHost } = env;
    const h = newHost();
    await h.init();
    const t0 = clock.now();
    const r = await clock.until(h.process({ id: 1, through: 2, events: [rev(1, "a", "hang", "h0"), rev(2, "b", "ok", "o3")] }));
    // The round waited only the grace period for "a", not its 10 s deadline.
    expect({ r, held: h.held(), waited: clock.now() - t0 }).toEqual({ r: { id: 1, processed: 1, skipped: 0, emitted: 1, dlq: 0 }, held: 1, waited: 100 });
    const rest = await clock.until(h.drain());
    expect({ dlq: rest.dlq, tries: attempts.get("h0"), held: h.held() }).toEqual({ dlq: 1, tries: 3, held: 0 });
    expect((await env.deadLetters()).map((m) => m.headers[DLQ_HEADERS.reason])).toEqual(["handler of flaky did not finish within 10000 ms (after 3 attempts)"]);
  });

  test("a snapshot while a key is held stores the position before its event; after a restart only the held event runs again, and each output is out once", async () => {
    await using env = await memoryEnv(RETRY_APP, 0);
    const { clock, store, newHost } = env;
    const h = newHost();
    await h.init();
    const pa = partitionOf("c", 4);
    const sameP = ["d", "e", "f", "g", "h", "i", "j"].find((k) => partitionOf(k, 4) === pa)!;
    await clock.until(h.process({ id: 1, through: 3, events: [rev(1, "c", "ok", "c1"), rev(2, "c", "transient", "c2"), rev(3, sameP, "ok", "s1")] }));
    await h.snapshot();
    expect((await store.loadMeta(pa))?.lastSeq).toBe(1);
    // The instance stops here; a new owner reads the partition again from 2.
    const h2 = newHost();
    await h2.init();
    expect(h2.positions().find((p) => p.partition === pa)?.lastSeq).toBe(1);
    const r = await clock.until(settled(h2, { id: 1, through: 3, events: [rev(2, "c", "transient", "c2"), rev(3, sameP, "ok", "s1")] }));
    expect({ processed: r.processed, skipped: r.skipped }).toEqual({ processed: 1, skipped: 1 });
    await h2.snapshot();
    expect(await ids(env)).toEqual(["c1", "s1", "c2"]);
    expect((await store.loadMeta(pa))?.lastSeq).toBe(3);
    expect((await store.loadActor("flaky", "c"))?.state).toEqual({ done: ["c1", "c2"] });
  });

  test("retries of one key run one after another: a TerminalError is dead-lettered at once, a plain error after three attempts with backoff, a hung handler after three deadlines", async () => {
    await using env = await memoryEnv(RETRY_APP, 0);
    const { clock, newHost } = env;
    const h = newHost();
    await h.init();
    const t0 = clock.now();
    const r = await clock.until(settled(h, { id: 2, through: 4, events: [rev(2, "a", "terminal", "x1"), rev(3, "a", "boom", "b1"), rev(4, "a", "hang", "h1")] }));
    expect(r).toMatchObject({ processed: 0, dlq: 3 });
    expect(attempts.get("x1")).toBe(1);
    expect(attempts.get("b1")).toBe(3);
    expect(attempts.get("h1")).toBe(3);
    // Three deadlines of 10 s, and four backoffs (two after "boom", two after "hang") of 25..100 ms.
    expect(clock.now() - t0).toBeGreaterThanOrEqual(30_000 + 2 * (25 + 50));
    expect(clock.now() - t0).toBeLessThanOrEqual(30_000 + 2 * (50 + 100));
    const dlq = (await env.deadLetters()).map((m) => [m.headers[DLQ_HEADERS.error], m.headers[DLQ_HEADERS.reason]]);
    expect(dlq).toEqual([
      ["TerminalError", "not a valid order: x1"],
      ["HandlerError", "handler of flaky failed: boom b1 (after 3 attempts)"],
      ["HandlerError", "handler of flaky did not finish within 10000 ms (after 3 attempts)"],
    ]);
  });
});
