import { expect, test } from "bun:test";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { startNats, appNames } from "./nats/mod.ts";
import { startRuntime } from "./runtime.ts";
import { produce } from "./ops/mod.ts";
import { DLQ_HEADERS } from "./output/mod.ts";
import { partitionOf } from "./route/mod.ts";
import { client, readStream, storedStates } from "./testing/mod.ts";

const ORDER_APP = new URL("./testdata/order-app.ts", import.meta.url).pathname;

test("undecodable, key-less and schema-invalid events go to the dead-letter subject with a reason; valid ones are processed", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const rt = await startRuntime({ app: ORDER_APP, nats: nats.url, workers: 2, logLevel: "warn" });
  const raw = (subject: string, bytes: Uint8Array, contentType?: string) => {
    const h = natsHeaders();
    if (contentType) h.set("Content-Type", contentType);
    return c.js.publish(subject, bytes, { headers: h });
  };
  const enc = new TextEncoder();
  let id = 0;
  const expected = new Map<string, number>();
  const good = async (k: string, n: number, format?: "json") => {
    expected.set(k, (expected.get(k) ?? 0) + n);
    await produce(c.js, `t.in.${k}`, { id: id++, k, n }, format ? { format } : {});
  };
  await good("a", 1);
  const bad = [
    await raw("t.in.a", new Uint8Array([0x92, 0x01])), // truncated msgpack
    await raw("t.in.a", new Uint8Array([0xc1])), // reserved msgpack byte
    await raw("t.in.b", enc.encode("{not json"), "application/json"),
    await raw("t.in.b", enc.encode("hello"), "text/plain"), // unsupported content type
    await raw("t.in.a", new Uint8Array()), // empty
  ].map((a) => a.seq);
  await good("b", 2, "json");
  const keyless = [
    (await produce(c.js, "t.in.x", { id: id++, n: 5 })).seq,
    (await produce(c.js, "t.in.x", { id: id++, k: "", n: 5 })).seq,
    (await produce(c.js, "t.in.x", 42)).seq,
  ];
  const invalid = [
    (await produce(c.js, "t.in.a", { id: id++, k: "a", n: "three" })).seq,
    (await produce(c.js, "t.in.a", { id: "x", k: "a", n: 1 })).seq,
  ];
  await good("a", 3);
  await good("c", 4);
  await rt.drained();
  await rt.stop();

  const dlq = await readStream(c.nc, appNames("order").dlq);
  // What no actor could take was dead-lettered by the repartition step (sequences of the input
  // stream); what an actor refused, by its worker (sequences of its partition's stream).
  const bySeq = new Map(dlq.filter((m) => m.headers[DLQ_HEADERS.partition] === undefined).map((m) => [Number(m.headers[DLQ_HEADERS.seq]), m]));
  const refused = dlq.filter((m) => m.headers[DLQ_HEADERS.partition] !== undefined);
  expect(dlq.length).toBe(bad.length + keyless.length + invalid.length);
  for (const s of bad) {
    const m = bySeq.get(s)!;
    expect(m.headers[DLQ_HEADERS.error]).toBe("DecodeError");
    expect(m.headers[DLQ_HEADERS.reason]).toMatch(/cannot decode|unsupported content type|empty payload/);
    expect(m.headers[DLQ_HEADERS.subject]).toMatch(/^t\.in\./);
  }
  for (const s of keyless) {
    const m = bySeq.get(s)!;
    expect(m.headers[DLQ_HEADERS.error]).toBe("MissingKeyError");
    expect(m.headers[DLQ_HEADERS.reason]).toContain('field "k"');
    expect(m.headers[DLQ_HEADERS.actor]).toBe("acc");
  }
  expect(refused).toHaveLength(invalid.length);
  for (const m of refused) {
    expect(m.headers[DLQ_HEADERS.partition]).toBe(String(partitionOf("a", 16)));
    expect(m.headers[DLQ_HEADERS.subject]).toBe("t.in.a");
    expect(m.headers[DLQ_HEADERS.error]).toBe("ValidationError");
    expect(m.headers[DLQ_HEADERS.reason]).toMatch(/^event does not match the input schema of acc: \w+: Invalid input: expected \w+, received \w+$/);
    expect(m.headers[DLQ_HEADERS.key]).toBe("a");
  }
  // The original bytes of an undecodable message are kept for triage.
  expect(Array.from(bySeq.get(bad[0]!)!.value as Uint8Array)).toEqual([0x92, 0x01]);

  const states = await storedStates(c.nc, appNames("order").bucket);
  for (const [k, sum] of expected) expect((states.get(`acc/${k}`)!.state as { sum: number }).sum).toBe(sum);
  expect(states.size).toBe(expected.size);
});
