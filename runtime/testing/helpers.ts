import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { spawn, type Subprocess } from "bun";
import { appNames, connectOptions, hasStream, type NatsAddress } from "../nats/mod.ts";
import { inputCoverage, produce } from "../ops/mod.ts";
import { decodePayload } from "../route/mod.ts";
import { kvSnapshotStore, type ActorRecord } from "../state/mod.ts";

/** A test's own connection (and JetStream client), closed when disposed. */
export async function client(url: NatsAddress): Promise<{ nc: NatsConnection; js: JetStreamClient } & AsyncDisposable> {
  const nc = await connect(connectOptions(url, "weir-test"));
  return { nc, js: jetstream(nc), [Symbol.asyncDispose]: () => nc.close() };
}

/** Publishes events with bounded concurrency; returns the stream sequence of the last one. */
export async function publishAll(
  js: JetStreamClient,
  events: Iterable<{ subject: string; value: unknown }>,
  window = 2000,
): Promise<number> {
  let last = 0;
  let batch: Promise<{ seq: number }>[] = [];
  const flush = async () => {
    for (const a of await Promise.all(batch)) last = Math.max(last, a.seq);
    batch = [];
  };
  for (const e of events) {
    batch.push(produce(js, e.subject, e.value));
    if (batch.length >= window) await flush();
  }
  await flush();
  return last;
}

/** Every actor state stored for an app (reads the KV bucket). */
export async function storedStates(nc: NatsConnection, bucket: string): Promise<Map<string, ActorRecord>> {
  const store = await kvSnapshotStore(nc, { bucket });
  const out = new Map<string, ActorRecord>();
  for await (const { actor, key, record } of store.listActors()) out.set(`${actor}/${key}`, record);
  return out;
}

export interface StoredMessage {
  subject: string;
  seq: number;
  value: unknown;
  headers: Record<string, string>;
}

/** All messages of a stream, payloads decoded as msgpack when they are msgpack. */
export async function readStream(nc: NatsConnection, stream: string): Promise<StoredMessage[]> {
  const jsm = await jetstreamManager(nc);
  const total = (await jsm.streams.info(stream)).state.messages;
  const out: StoredMessage[] = [];
  if (total === 0) return out;
  const c = await jetstream(nc).consumers.get(stream);
  const iter = await c.consume({ max_messages: 4096 });
  for await (const m of iter) {
    const headers: Record<string, string> = {};
    for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
    let value: unknown;
    try {
      value = decodePayload(m.data, headers["Content-Type"]);
    } catch {
      value = m.data;
    }
    out.push({ subject: m.subject, seq: m.seq, value, headers });
    if (out.length >= total) break;
  }
  iter.stop();
  return out;
}

/** Deterministic PRNG (mulberry32) so generated workloads are reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(50);
  }
}

/**
 * A fixed-seed workload for the order test app (`t.in.<k>` events `{ id, k, n }`) and its
 * brute-force result: per key, the sum of `n` and the number of events.
 */
export function orderWorkload(seed: number, total: number, keys: number, maxN: number) {
  const random = rng(seed);
  const expected = new Map<string, { sum: number; count: number }>();
  const events = Array.from({ length: total }, (_, id) => {
    const k = `k${Math.floor(random() * keys)}`;
    const n = 1 + Math.floor(random() * maxN);
    const e = expected.get(k) ?? { sum: 0, count: 0 };
    e.sum += n;
    e.count++;
    expected.set(k, e);
    return { subject: `t.in.${k}`, value: { id, k, n } };
  });
  return { events, expected };
}

/**
 * For runs that are SIGKILLed and started again: a short instance-lock TTL, so the next start takes
 * over the killed instance's lock after 1 s rather than the default 10 s.
 */
export const KILLED_LOCK_TTL = ["--lock-ttl", "1000"];

/** The CLI's entry point, run from source. */
export const MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;

/**
 * weir children (`weirCli`, `spawnWeir`) still running: killed when the test process exits, so a test that fails
 * before it stops them leaves none behind (they would wait for their test's broker for good).
 */
const children = new Set<Subprocess>();
process.once("exit", () => {
  for (const p of children) p.kill("SIGKILL");
});

/** Runs a weir command from source to its end: exit code, stdout, stderr. */
export async function weirCli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = spawn([process.execPath, MAIN, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  children.add(proc);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  children.delete(proc);
  return { code, out, err };
}

export interface WeirChild {
  proc: Subprocess<"ignore", "ignore", "pipe">;
  /** Resolves once the run logged where it resumes (its workers are up). */
  started: Promise<void>;
  /** The tail of its stderr so far; `drained` settles when stderr closes. */
  out: { log: string; drained: Promise<void> };
}

/**
 * `weir run` from source as a child process. One reader drains its stderr for its whole life: a
 * child whose stderr pipe is closed dies on its next warning.
 */
export function spawnWeir(args: string[]): WeirChild {
  // Instances side by side would contend for one HTTP port: none unless the test asks for it.
  const http = args.some((a) => a === "--http" || a === "--no-http") ? [] : ["--no-http"];
  const proc = spawn([process.execPath, MAIN, "run", ...args, ...http], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  children.add(proc);
  void proc.exited.then(() => children.delete(proc));
  let resolveStarted!: () => void;
  let rejectStarted!: (err: Error) => void;
  const started = new Promise<void>((res, rej) => {
    resolveStarted = res;
    rejectStarted = rej;
  });
  // Killing a child before it started is no failure unless someone waits for its start.
  started.catch(() => {});
  const out = { log: "", drained: Promise.resolve() };
  out.drained = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) {
      out.log = (out.log + dec.decode(chunk)).slice(-8000);
      if (out.log.includes("resuming each partition")) resolveStarted();
    }
    rejectStarted(new Error(`weir run exited before starting: ${out.log}`));
  })().catch(() => {});
  return { proc, started, out };
}

/**
 * How far in the app's input stream (or `input`, a stream of its producers') each partition's stored state reaches (see `inputCoverage`):
 * the least is where the stored state covers everything, the most shows that something is stored.
 */
export async function storedCoverage(nc: NatsConnection, app: string, partitions: number, input = appNames(app).input): Promise<{ least: number; most: number }> {
  const jsm = await jetstreamManager(nc);
  const names = appNames(app);
  const streams = Array.from({ length: partitions }, (_, p) => names.partitionStream(p));
  if (!(await hasStream(jsm, streams[0]!))) return { least: 0, most: 0 };
  const store = await kvSnapshotStore(nc, { bucket: names.bucket });
  const metas = await Promise.all(streams.map((_, p) => store.loadMeta(p)));
  const each = await inputCoverage(jsm, input, streams, new Map(metas.map((m, p) => [p, m?.lastSeq ?? 0])), await store.loadPosition(input));
  return { least: Math.min(...each), most: Math.max(...each) };
}

/**
 * How far in the app's input stream its stored state covers everything: the repartition step's
 * stored position, held back by every partition whose snapshot has not reached the copies it made
 * (compare with the input's last sequence to see whether the app has processed and stored it all).
 */
export async function storedProgress(nc: NatsConnection, app: string, partitions: number, input?: string): Promise<number> {
  return (await storedCoverage(nc, app, partitions, input)).least;
}

/** Two `weir run` of one app, the second started after the first; resolves once each owns half the partitions. */
export async function twoInstances(args: string[], partitions: number): Promise<[WeirChild, WeirChild]> {
  const first = spawnWeir(args);
  await first.started;
  const second = spawnWeir(args);
  await second.started;
  const half = `${partitions / 2} of ${partitions} partitions`;
  await waitFor(() => first.out.log.includes(half) && second.out.log.includes(half), 20_000, "both instances to own half the partitions");
  return [first, second];
}
