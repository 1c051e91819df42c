import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { createRegistry, kvRegistryStore } from "../../schema-registry/mod.ts";
import { registryPort } from "../../cli/mod.ts";
import { msgpackCodec } from "./codec.ts";
import { startNats, appNames } from "../nats/mod.ts";
import { produce, schemaProducer } from "../ops/mod.ts";
import { DLQ_HEADERS } from "../output/mod.ts";
import { startRuntime } from "../mod.ts";
import { SCHEMA_ID_HEADER } from "./schemas.ts";
import { client, readStream, storedStates, weirCli } from "../testing/mod.ts";

const ORDER_APP = new URL("../testdata/order-app.ts", import.meta.url).pathname;


async function registryOn(nc: Parameters<typeof kvRegistryStore>[0]) {
  const registry = createRegistry({ store: await kvRegistryStore(nc) });
  return { registry, port: registryPort(registry) };
}

describe("schema enforcement in the runtime (real nats-server)", () => {
  test("the actor's input schema is registered; events failing their registered schema are dead-lettered with the reason", async () => {
    await using nats = await startNats();
    await using c = await client(nats.url);
    const { registry, port } = await registryOn(c.nc);
    const rt = await startRuntime({ app: ORDER_APP, nats: nats.url, workers: 2, logLevel: "warn", registry: port });

    // Registered from the zod schema (z.object({ id: int, k: string, n: int })) under <input>-value.
    const v1 = await registry.version("t.in.>-value", "latest");
    const schema = JSON.parse(v1.schema);
    expect(schema.required).toEqual(["id", "k", "n"]);
    expect(schema.properties.n.type).toBe("integer");

    const producer = schemaProducer(c.js, port);
    expect(await producer.schemaFor("t.in.a")).toEqual({ id: v1.id, registrySubject: "t.in.>-value" });
    await producer.publish("t.in.a", { id: 1, k: "a", n: 2 });
    await producer.publish("t.in.b", { id: 2, k: "b", n: 5 }, { format: "json" });
    // The producer refuses an invalid event before it reaches the stream.
    await expect(producer.publish("t.in.a", { id: 3, k: "a", n: 1.5 })).rejects.toThrow(/does not match schema .*n/);

    // Events that claim the schema but do not match it (a producer that skipped validation).
    const wrong = [
      (await produce(c.js, "t.in.a", { id: 4, k: "a", n: "lots" }, { schemaId: v1.id })).seq,
      (await produce(c.js, "t.in.a", { id: 5, k: "a" }, { schemaId: v1.id })).seq,
    ];
    const unknown = (await produce(c.js, "t.in.a", { id: 6, k: "a", n: 1 }, { schemaId: 999 })).seq;
    const h = natsHeaders();
    h.set(SCHEMA_ID_HEADER, "seven");
    const malformed = (await c.js.publish("t.in.a", msgpackCodec.encode({ id: 8, k: "a", n: 1 }), { headers: h })).seq;
    await producer.publish("t.in.a", { id: 7, k: "a", n: 10 });
    await rt.drained();
    await rt.stop();

    const dlq = await readStream(c.nc, appNames("order").dlq);
    const bySeq = new Map(dlq.map((m) => [Number(m.headers[DLQ_HEADERS.seq]), m]));
    expect(dlq).toHaveLength(4);
    for (const s of wrong) {
      expect(bySeq.get(s)!.headers[DLQ_HEADERS.error]).toBe("SchemaValidationError");
      expect(bySeq.get(s)!.headers[DLQ_HEADERS.reason]).toContain(`schema ${v1.id}`);
    }
    expect(bySeq.get(wrong[0]!)!.headers[DLQ_HEADERS.reason]).toContain("/n must be integer");
    expect(bySeq.get(wrong[1]!)!.headers[DLQ_HEADERS.reason]).toContain("must have required property 'n'");
    expect(bySeq.get(unknown)!.headers[DLQ_HEADERS.error]).toBe("UnknownSchemaError");
    expect(bySeq.get(unknown)!.headers[DLQ_HEADERS.reason]).toContain("999");
    expect(bySeq.get(malformed)!.headers[DLQ_HEADERS.error]).toBe("UnknownSchemaError");

    // Processing went on: the valid events are in the state.
    const states = await storedStates(c.nc, appNames("order").bucket);
    expect((states.get("acc/a")!.state as { sum: number }).sum).toBe(12);
    expect((states.get("acc/b")!.state as { sum: number }).sum).toBe(5);
  });

  test("weir run stops with the registry's message when the actor's schema is incompatible", async () => {
    await using nats = await startNats();
    await using c = await client(nats.url);
    const { registry } = await registryOn(c.nc);
    // Someone registered `n` as a string; the app reads it as an integer: old data breaks it.
    const old = { type: "object", properties: { id: { type: "integer" }, k: { type: "string" }, n: { type: "string" } }, required: ["k"] };
    await registry.register("t.in.>-value", { schemaType: "JSON", schema: JSON.stringify(old) });

    const { code, err: stderr } = await weirCli("run", ORDER_APP, "--nats", nats.url, "--no-http", "--workers", "1");
    expect(code).toBe(1);
    expect(stderr).toContain("refused actor acc's input schema for t.in.>-value");
    expect(stderr).toContain("incompatible");
    expect(stderr).toContain("#/properties/n");
    // Nothing was consumed: the app's streams were never created.
    await expect(c.nc.request("$JS.API.STREAM.INFO." + appNames("order").input).then((m) => m.json<{ error?: unknown }>())).resolves.toHaveProperty("error");
  });

  test("weir produce validates JSON lines, publishes the valid ones with the schema id, reports the rest", async () => {
    await using nats = await startNats();
    await using c = await client(nats.url);
    const { registry } = await registryOn(c.nc);
    const schema = { type: "object", properties: { k: { type: "string" }, n: { type: "integer" } }, required: ["k", "n"] };
    const { id } = await registry.register("p.*-value", { schemaType: "JSON", schema: JSON.stringify(schema) });
    await c.nc.request("$JS.API.STREAM.CREATE.P", JSON.stringify({ name: "P", subjects: ["p.>"] }));

    const dir = mkdtempSync(join(tmpdir(), "weir-produce-"));
    const file = join(dir, "events.jsonl");
    writeFileSync(file, ['{"k":"a","n":1}', '{"k":"b","n":"two"}', "not json", "", '{"k":"c","n":3}', '{"n":4}'].join("\n"));
    const { code, err: stderr } = await weirCli("produce", "p.eu", "--nats", nats.url, "--file", file, "--format", "json", "--msg-id", "k");
    expect(code).toBe(1);
    expect(stderr).toContain("line 2:");
    expect(stderr).toContain("/n must be integer");
    expect(stderr).toContain("line 3: not JSON");
    expect(stderr).toContain("line 6:");
    expect(stderr).toContain("2 published to p.eu, 3 invalid");

    const stored = await readStream(c.nc, "P");
    expect(stored.map((m) => m.value)).toEqual([{ k: "a", n: 1 }, { k: "c", n: 3 }]);
    for (const m of stored) expect(m.headers[SCHEMA_ID_HEADER]).toBe(String(id));
    expect(stored.map((m) => m.headers["Nats-Msg-Id"])).toEqual(["a", "c"]);

    // Bad arguments: one line, exit 2.
    const bad = await weirCli("produce", "p.*", "--nats", nats.url);
    expect(bad.code).toBe(2);
    expect(bad.err.trim().split("\n")).toHaveLength(1);
  });
});
