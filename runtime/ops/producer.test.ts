import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { createRegistry, kvRegistryStore } from "../../schema-registry/mod.ts";
import { registryPort } from "../../cli/mod.ts";
import { loadApp } from "../contract/mod.ts";
import { appNames, startNats } from "../nats/mod.ts";
import { DLQ_HEADERS } from "../output/mod.ts";
import { partitionOf } from "../route/mod.ts";
import { startRuntime } from "../mod.ts";
import { client, readStream, rng, storedStates, weirCli } from "../testing/mod.ts";
import { appInput, appInputOf, produce, schemaProducer } from "./producer.ts";

const PAIR_APP = new URL("../testdata/pair-app.ts", import.meta.url).pathname;
/** The CLI's worker entry: its workers check schemas as `weir run`'s do. */
const CLI_WORKER = new URL("../../cli/worker.ts", import.meta.url).href;
const PARTITIONS = 8;

type Ev = { id: number; a: string; b: string; n: number };
type Counted = { count: number; sum: number; ids: number[] };

/** What each actor's keys must hold after `events`, in the order given. */
function expected(events: readonly Ev[]): Map<string, Counted> {
  const out = new Map<string, Counted>();
  for (const e of events) {
    for (const [actor, key] of [["byA", e.a], ["byB", e.b]] as const) {
      const s = out.get(`${actor}/${key}`) ?? { count: 0, sum: 0, ids: [] };
      out.set(`${actor}/${key}`, { count: s.count + 1, sum: s.sum + e.n, ids: [...s.ids, e.id] });
    }
  }
  return out;
}

describe("producers that publish to the app's partitions (real nats-server)", () => {
  test("each event is stored once in each partition of its keys, read there without the repartition step; mixed with unpartitioned producers, nothing is lost or repeated", async () => {
    await using nats = await startNats();
    await using c = await client(nats.url);
    const rt = await startRuntime({ app: PAIR_APP, nats: nats.url, workers: 2, logLevel: "warn" });
    const app = await loadApp(PAIR_APP);
    const jsm = await jetstreamManager(c.nc);
    const input = await appInputOf(c.nc, jsm, app);
    expect(input.partitions).toBe(PARTITIONS);
    await expect(appInputOf(c.nc, jsm, app, 4)).rejects.toThrow("app pair runs with 8 partitions here; producers must use the same (got 4)");

    const rand = rng(7);
    const key = () => `k${Math.floor(rand() * 50)}`;
    const events: Ev[] = Array.from({ length: 3_000 }, (_, id) => ({ id, a: key(), b: key(), n: 1 + Math.floor(rand() * 9) }));
    const first = events.slice(0, 2_000);
    for (let i = 0; i < first.length; i += 500) {
      await Promise.all(first.slice(i, i + 500).map((e) => produce(c.js, `pr.${e.id % 3}`, e, { msgID: `e${e.id}`, input })));
    }
    // A retried publish (same id) is stored once.
    const again = await produce(c.js, `pr.0`, first[0]!, { msgID: "e0", input });
    expect(again.duplicate).toBe(true);
    await rt.drained();
    const names = appNames(app.name);
    expect((await jsm.streams.info(names.input)).state.messages).toBe(0);

    // Then both kinds of producer at once: the step's copies and straight publishes interleave in the partitions' streams.
    const rest = events.slice(2_000);
    await Promise.all(rest.map((e) => produce(c.js, `pr.${e.id % 3}`, e, { msgID: `e${e.id}`, ...(e.id % 2 ? { input } : {}) })));
    await rt.drained();
    await rt.stop();

    const copies = new Map<number, number[]>();
    for (let p = 0; p < PARTITIONS; p++) {
      for (const m of await readStream(c.nc, names.partitionStream(p))) {
        expect(m.subject).toStartWith(`${names.inputPrefix}.${p}.pr.`);
        const id = (m.value as Ev).id;
        copies.set(id, [...(copies.get(id) ?? []), p]);
      }
    }
    for (const e of events) {
      expect([e.id, copies.get(e.id)]).toEqual([e.id, [...new Set([partitionOf(e.a, PARTITIONS), partitionOf(e.b, PARTITIONS)])].sort((x, y) => x - y)]);
    }

    const states = await storedStates(c.nc, names.bucket);
    const want = expected(events);
    expect(states.size).toBe(want.size);
    for (const [k, w] of want) {
      const got = states.get(k)!.state as Counted;
      expect([k, got.count, got.sum]).toEqual([k, w.count, w.sum]);
      // Order per key holds among what one producer sent in order (the first phase was sent in id order per batch of keys).
      const firstIds = got.ids.filter((id) => id < 2_000);
      expect(firstIds).toEqual(w.ids.filter((id) => id < 2_000));
      expect(new Set(got.ids).size).toBe(got.ids.length);
    }
  });

  test("an event published straight to its partitions that fails its schema is dead-lettered once, by the worker, with the reason; one in a partition its keys are not in likewise", async () => {
    await using nats = await startNats();
    await using c = await client(nats.url);
    const registry = createRegistry({ store: await kvRegistryStore(c.nc) });
    const port = registryPort(registry);
    const rt = await startRuntime({ app: PAIR_APP, nats: nats.url, workers: 2, logLevel: "warn", registry: port, workerEntry: CLI_WORKER });
    const app = await loadApp(PAIR_APP);
    const input = appInput(app);
    const { id } = await schemaProducer(c.js, port).schemaFor("pr.x");

    // Keys in two different partitions: two copies, one dead letter.
    const [a, b] = ["u1", ...Array.from({ length: 100 }, (_, i) => `v${i}`).filter((k) => partitionOf(k, PARTITIONS) !== partitionOf("u1", PARTITIONS))];
    const bad = await produce(c.js, "pr.x", { id: 1, a, b, n: "three" }, { schemaId: id, input });
    await schemaProducer(c.js, port, { input }).publish("pr.x", { id: 2, a, b, n: 4 });
    // A producer that partitions with another count: what lands where its key does not belong is dead-lettered, not dropped.
    const keys = Array.from({ length: 20 }, (_, i) => `w${i}`);
    const misplaced = keys.filter((k) => partitionOf(k, 5) !== partitionOf(k, PARTITIONS));
    expect(misplaced.length).toBeGreaterThan(0);
    expect(misplaced.length).toBeLessThan(keys.length);
    const wrongCount = appInput(app, 5);
    for (const [i, k] of keys.entries()) await produce(c.js, "pr.x", { id: 10 + i, a: k, b: k, n: 1 }, { input: wrongCount });
    await rt.drained();
    await rt.stop();

    const dlq = await readStream(c.nc, appNames(app.name).dlq);
    const schemaDlq = dlq.filter((m) => m.headers[DLQ_HEADERS.error] === "SchemaValidationError");
    expect(schemaDlq).toHaveLength(1);
    expect(schemaDlq[0]!.headers[DLQ_HEADERS.reason]).toContain("/n must be integer");
    expect(Number(schemaDlq[0]!.headers[DLQ_HEADERS.seq])).toBe(bad.seq);
    const wrong = dlq.filter((m) => m.headers[DLQ_HEADERS.error] === "WrongPartitionError");
    expect(wrong.map((m) => (m.value as Ev).a).sort()).toEqual([...misplaced].sort());
    expect(wrong[0]!.headers[DLQ_HEADERS.reason]).toMatch(/^published to partition \d, but its keys are in partition \d of 8/);
    expect(dlq).toHaveLength(1 + misplaced.length);
    const states = await storedStates(c.nc, appNames(app.name).bucket);
    expect((states.get(`byA/${a}`)!.state as Counted).ids).toEqual([2]);
    expect((states.get(`byB/${b}`)!.state as Counted).ids).toEqual([2]);
    for (const k of keys) expect([k, states.has(`byA/${k}`)]).toEqual([k, !misplaced.includes(k)]);
  });

  test("weir produce --app publishes to the app's partitions; before the app has run it says so", async () => {
    await using nats = await startNats();
    await using c = await client(nats.url);
    const registry = createRegistry({ store: await kvRegistryStore(c.nc) });
    const schema = { type: "object", properties: { id: { type: "integer" }, a: { type: "string" }, b: { type: "string" }, n: { type: "integer" } }, required: ["id", "a", "b", "n"] };
    await registry.register("pr.>-value", { schemaType: "JSON", schema: JSON.stringify(schema) });
    const file = join(mkdtempSync(join(tmpdir(), "weir-produce-")), "events.jsonl");
    writeFileSync(file, [JSON.stringify({ id: 1, a: "x", b: "y", n: 2 }), JSON.stringify({ id: 2, a: "x", b: "x", n: 3 })].join("\n") + "\n");

    const before = await weirCli("produce", "pr.q", "--file", file, "--nats", nats.url, "--app", PAIR_APP);
    expect(before.code).toBe(1);
    expect(before.err).toContain("app pair has no partition streams here yet (no weir_pair_in_0)");

    const rt = await startRuntime({ app: PAIR_APP, nats: nats.url, workers: 1, partitions: 4, logLevel: "warn" });
    const wrong = await weirCli("produce", "pr.q", "--file", file, "--nats", nats.url, "--app", PAIR_APP, "--partitions", "8");
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain("app pair runs with 4 partitions here; producers must use the same (got 8)");

    const ok = await weirCli("produce", "pr.q", "--file", file, "--nats", nats.url, "--app", PAIR_APP, "--msg-id", "id");
    expect(ok.err).toContain("publishing to the 4 partitions of app pair");
    expect(ok.code).toBe(0);
    await rt.drained();
    await rt.stop();
    const names = appNames("pair");
    const stored = (await Promise.all([0, 1, 2, 3].map((p) => readStream(c.nc, names.partitionStream(p))))).flat();
    expect(stored.map((m) => m.subject).sort()).toEqual(
      [...new Set([partitionOf("x", 4), partitionOf("y", 4)])].map((p) => `weir.in.pair.${p}.pr.q`).concat(`weir.in.pair.${partitionOf("x", 4)}.pr.q`).sort(),
    );
    expect((await storedStates(c.nc, names.bucket)).get("byA/x")!.state).toEqual({ count: 2, sum: 5, ids: [1, 2] });
  });
});
