import { describe, expect, test } from "bun:test";
import { client, json, startRegistry } from "./testdata/helpers.ts";

const order = {
  type: "object",
  properties: { order_id: { type: "string" }, amount: { type: "number" } },
  required: ["order_id", "amount"],
};
// Backward compatible with `order`: amount becomes optional (readers of old data still cope).
const relaxed = { ...order, required: ["order_id"] };

describe("registry HTTP API (real nats-server)", () => {
  test("ids are global, stable and never reused; versions, lookups and schema reads", async () => {
    await using r = await startRegistry();
    const call = client(r.url);

    expect(await call("GET", "/")).toMatchObject({ status: 200, body: {}, contentType: "application/vnd.schemaregistry.v1+json" });
    expect((await call("GET", "/schemas/types")).body).toEqual(["JSON"]);

    const a = await call("POST", "/subjects/orders-value/versions", json(order));
    expect(a).toMatchObject({ status: 200, body: { id: 1, version: 1, subject: "orders-value" } });
    // The same schema again (even re-formatted) is the same version and id.
    const again = await call("POST", "/subjects/orders-value/versions", { schemaType: "JSON", schema: JSON.stringify(order, null, 2) });
    expect(again.body).toMatchObject({ id: 1, version: 1 });
    // The same schema in another subject gets the same global id.
    expect((await call("POST", "/subjects/archive-value/versions", json(order))).body).toMatchObject({ id: 1, version: 1 });
    // A compatible change is version 2 with a new id.
    const b = await call("POST", "/subjects/orders-value/versions", json(relaxed));
    expect(b).toMatchObject({ status: 200, body: { id: 2, version: 2 } });

    expect((await call("GET", "/subjects")).body).toEqual(["archive-value", "orders-value"]);
    expect((await call("GET", "/subjects?subjectPrefix=ord")).body).toEqual(["orders-value"]);
    expect((await call("GET", "/subjects/orders-value/versions")).body).toEqual([1, 2]);
    for (const v of ["latest", "-1", "2"]) {
      expect((await call("GET", `/subjects/orders-value/versions/${v}`)).body).toEqual({
        subject: "orders-value",
        version: 2,
        id: 2,
        schemaType: "JSON",
        schema: JSON.stringify(relaxed),
      });
    }
    expect((await call("GET", "/subjects/orders-value/versions/1/schema")).body).toEqual(order);
    expect((await call("GET", "/schemas/ids/1")).body).toEqual({ schema: JSON.stringify(order), schemaType: "JSON" });
    expect((await call("GET", "/schemas/ids/1/schema")).body).toEqual(order);
    expect((await call("GET", "/schemas/ids/1/subjects")).body).toEqual(["archive-value", "orders-value"]);
    expect((await call("GET", "/schemas/ids/1/versions")).body).toEqual([
      { subject: "archive-value", version: 1 },
      { subject: "orders-value", version: 1 },
    ]);

    // Is this schema registered under the subject?
    expect((await call("POST", "/subjects/orders-value", json(order))).body).toMatchObject({ id: 1, version: 1, subject: "orders-value" });
    expect(await call("POST", "/subjects/orders-value", json({ type: "string" }))).toMatchObject({ status: 404, body: { error_code: 40403 } });
    expect(await call("POST", "/subjects/nope", json(order))).toMatchObject({ status: 404, body: { error_code: 40401 } });

    // Ids are never reused: delete everything of schema 2, then register a new schema.
    expect((await call("DELETE", "/subjects/orders-value/versions/2")).body).toBe(2);
    expect((await call("DELETE", "/subjects/orders-value/versions/2?permanent=true")).body).toBe(2);
    const c = await call("POST", "/subjects/other-value/versions", json({ type: "string" }));
    expect(c.body.id).toBe(3);
  });

  test("error codes and bodies", async () => {
    await using r = await startRegistry();
    const call = client(r.url);
    await call("POST", "/subjects/s/versions", json(order));

    const cases: [string, string, unknown, number, number][] = [
      ["GET", "/schemas/ids/99", undefined, 404, 40403],
      ["GET", "/subjects/missing/versions", undefined, 404, 40401],
      ["GET", "/subjects/s/versions/7", undefined, 404, 40402],
      ["GET", "/subjects/s/versions/abc", undefined, 422, 42202],
      ["GET", "/subjects/s/versions/0", undefined, 422, 42202],
      ["POST", "/subjects/s/versions", { schema: JSON.stringify(order) }, 422, 42201], // no schemaType: AVRO, unsupported
      ["POST", "/subjects/s/versions", { schemaType: "PROTOBUF", schema: "syntax = \"proto3\";" }, 422, 42201],
      ["POST", "/subjects/s/versions", { schemaType: "JSON", schema: "{not json" }, 422, 42201],
      ["POST", "/subjects/s/versions", json({ type: "strin" }), 422, 42201],
      ["POST", "/subjects/s/versions", { schemaType: "JSON" }, 422, 42201],
      ["POST", "/subjects/s/versions", { schemaType: "JSON", schema: 5 }, 422, 422],
      ["POST", "/subjects/s/versions", "{oops", 400, 400],
      ["PUT", "/config", { compatibility: "SIDEWAYS" }, 422, 42203],
      ["PUT", "/config", { compatibilityPolicy: "LAX" }, 422, 42203],
      ["PUT", "/mode", { mode: "SLEEPY" }, 422, 42204],
      ["GET", "/config/s", undefined, 404, 40408],
      ["GET", "/mode/s", undefined, 404, 40409],
      ["GET", "/no/such/route", undefined, 404, 404],
    ];
    for (const [method, path, body, status, code] of cases) {
      const a = await call(method, path, body);
      expect({ method, path, status: a.status, code: a.body?.error_code }).toEqual({ method, path, status, code });
      expect(typeof a.body.message).toBe("string");
      expect(a.body.message.length).toBeGreaterThan(5);
    }
    // An unsupported schema type is named in the message.
    expect((await call("POST", "/subjects/s/versions", { schemaType: "PROTOBUF", schema: "x" })).body.message).toContain("PROTOBUF");
    // The invalid-schema message says what is wrong.
    expect((await call("POST", "/subjects/s/versions", json({ type: "strin" }))).body.message).toMatch(/type/);
    // Wrong media type.
    expect(await call("POST", "/subjects/s/versions", json(order), { "Content-Type": "text/plain" })).toMatchObject({ status: 415 });
    // Every accepted media type works.
    for (const type of ["application/vnd.schemaregistry+json", "application/json", "application/octet-stream"]) {
      expect((await call("POST", "/subjects/s", json(order), { "Content-Type": type })).status).toBe(200);
    }
  });

  test("soft and permanent deletes of versions and subjects", async () => {
    await using r = await startRegistry();
    const call = client(r.url);
    await call("PUT", "/config/s", { compatibility: "NONE" });
    await call("POST", "/subjects/s/versions", json(order));
    await call("POST", "/subjects/s/versions", json({ type: "string" }));
    await call("POST", "/subjects/s/versions", json({ type: "number" }));

    expect(await call("DELETE", "/subjects/s/versions/1?permanent=true")).toMatchObject({ status: 404, body: { error_code: 40407 } });
    expect((await call("DELETE", "/subjects/s/versions/1")).body).toBe(1);
    expect(await call("DELETE", "/subjects/s/versions/1")).toMatchObject({ status: 404, body: { error_code: 40406 } });
    expect((await call("GET", "/subjects/s/versions")).body).toEqual([2, 3]);
    expect((await call("GET", "/subjects/s/versions?deleted=true")).body).toEqual([1, 2, 3]);
    expect(await call("GET", "/subjects/s/versions/1")).toMatchObject({ status: 404, body: { error_code: 40402 } });
    expect((await call("GET", "/subjects/s/versions/1?deleted=true")).body.id).toBe(1);
    expect((await call("DELETE", "/subjects/s/versions/latest")).body).toBe(3);

    expect(await call("DELETE", "/subjects/s?permanent=true")).toMatchObject({ status: 404, body: { error_code: 40405 } });
    expect((await call("DELETE", "/subjects/s")).body).toEqual([2]);
    expect(await call("DELETE", "/subjects/s")).toMatchObject({ status: 404, body: { error_code: 40404 } });
    expect((await call("GET", "/subjects")).body).toEqual([]);
    expect((await call("GET", "/subjects?deleted=true")).body).toEqual(["s"]);
    expect(await call("GET", "/subjects/s/versions")).toMatchObject({ status: 404, body: { error_code: 40401 } });
    expect((await call("DELETE", "/subjects/s?permanent=true")).body).toEqual([1, 2, 3]);
    expect((await call("GET", "/subjects?deleted=true")).body).toEqual([]);
    // Its subject-level config went with it.
    expect((await call("GET", "/config/s")).body.error_code).toBe(40408);
    // Schemas keep their ids after the subject is gone.
    expect((await call("GET", "/schemas/ids/2")).status).toBe(200);
  });

  test("compatibility is enforced at registration and answered by the compatibility endpoints", async () => {
    await using r = await startRegistry();
    const call = client(r.url);
    expect((await call("GET", "/config")).body).toEqual({ compatibilityLevel: "BACKWARD" });
    await call("POST", "/subjects/orders-value/versions", json(order));

    // Narrowing amount from number to integer breaks readers of old data: refused under BACKWARD.
    const narrowed = { ...order, properties: { ...order.properties, amount: { type: "integer" } } };
    const refused = await call("POST", "/subjects/orders-value/versions", json(narrowed));
    expect(refused.status).toBe(409);
    expect(refused.body.error_code).toBe(409);
    expect(refused.body.message).toContain("#/properties/amount");
    expect((await call("GET", "/subjects/orders-value/versions")).body).toEqual([1]);

    expect((await call("POST", "/compatibility/subjects/orders-value/versions/latest", json(narrowed))).body).toEqual({ is_compatible: false });
    const verbose = await call("POST", "/compatibility/subjects/orders-value/versions/latest?verbose=true", json(narrowed));
    expect(verbose.body.is_compatible).toBe(false);
    expect(verbose.body.messages.join("\n")).toContain("#/properties/amount");
    expect((await call("POST", "/compatibility/subjects/orders-value/versions", json(relaxed))).body).toEqual({ is_compatible: true });
    expect((await call("POST", "/compatibility/subjects/new-value/versions/latest", json(order))).body).toEqual({ is_compatible: true });

    // FORWARD at the subject level flips the answer: old readers can read integer data.
    expect((await call("PUT", "/config/orders-value", { compatibility: "forward" })).body).toEqual({ compatibility: "FORWARD" });
    expect((await call("GET", "/config/orders-value")).body).toEqual({ compatibilityLevel: "FORWARD" });
    expect((await call("GET", "/config/other?defaultToGlobal=true")).body).toEqual({ compatibilityLevel: "BACKWARD" });
    expect((await call("POST", "/subjects/orders-value/versions", json(narrowed))).body).toMatchObject({ version: 2 });

    // NONE globally; the subject keeps its own level until deleted.
    expect((await call("PUT", "/config", { compatibility: "NONE" })).body).toEqual({ compatibility: "NONE" });
    expect((await call("DELETE", "/config/orders-value")).body).toEqual({ compatibilityLevel: "FORWARD" });
    expect((await call("GET", "/config/orders-value?defaultToGlobal=true")).body).toEqual({ compatibilityLevel: "NONE" });
    expect((await call("POST", "/subjects/orders-value/versions", json({ type: "string" }))).body).toMatchObject({ version: 3 });
    expect((await call("DELETE", "/config")).body).toEqual({ compatibilityLevel: "NONE" });
    expect((await call("GET", "/config")).body).toEqual({ compatibilityLevel: "BACKWARD" });

    // LENIENT is a config option beside the level; a PUT answers what it was sent, a GET the whole config.
    await call("PUT", "/config/orders-value", { compatibility: "FULL" });
    expect((await call("PUT", "/config/orders-value", { compatibilityPolicy: "LENIENT" })).body).toEqual({ compatibilityPolicy: "LENIENT" });
    expect((await call("GET", "/config/orders-value")).body).toEqual({ compatibilityLevel: "FULL", compatibilityPolicy: "LENIENT" });
  });

  test("modes: READONLY refuses writes, IMPORT keeps given ids and versions", async () => {
    await using r = await startRegistry();
    const call = client(r.url);
    await call("POST", "/subjects/a/versions", json(order));
    expect((await call("GET", "/mode")).body).toEqual({ mode: "READWRITE" });

    expect((await call("PUT", "/mode/a", { mode: "READONLY" })).body).toEqual({ mode: "READONLY" });
    expect(await call("POST", "/subjects/a/versions", json(relaxed))).toMatchObject({ status: 422, body: { error_code: 42205 } });
    expect(await call("DELETE", "/subjects/a")).toMatchObject({ status: 422, body: { error_code: 42205 } });
    // Reads go on, and other subjects are writable.
    expect((await call("GET", "/subjects/a/versions/1")).status).toBe(200);
    expect((await call("POST", "/subjects/b/versions", json(order))).status).toBe(200);
    expect((await call("DELETE", "/mode/a")).body).toEqual({ mode: "READONLY" });
    expect((await call("GET", "/mode/a?defaultToGlobal=true")).body).toEqual({ mode: "READWRITE" });

    // IMPORT needs an empty registry (or force); then ids and versions are the client's.
    expect(await call("PUT", "/mode", { mode: "IMPORT" })).toMatchObject({ status: 422, body: { error_code: 42205 } });
    expect(await call("POST", "/subjects/c/versions", json({ type: "string" }, { id: 50 }))).toMatchObject({ body: { error_code: 42205 } });
    expect((await call("PUT", "/mode?force=true", { mode: "IMPORT" })).body).toEqual({ mode: "IMPORT" });
    expect((await call("POST", "/subjects/c/versions", json({ type: "string" }, { id: 50, version: 7 }))).body).toMatchObject({ id: 50, version: 7 });
    // An id holding another schema is not overwritten.
    expect(await call("POST", "/subjects/d/versions", json({ type: "number" }, { id: 50 }))).toMatchObject({ body: { error_code: 42205 } });
    await call("PUT", "/mode", { mode: "READWRITE" });
    // Fresh ids continue above imported ones.
    expect((await call("POST", "/subjects/d/versions", json({ type: "boolean" }))).body.id).toBe(51);
  });

  test("a bearer token guards writes; reads can be closed too; 413 past the body limit", async () => {
    await using r = await startRegistry({ token: "s3cret", maxBodyBytes: 4096 });
    const anon = client(r.url);
    const authed = client(r.url, "s3cret");
    const denied = await anon("POST", "/subjects/s/versions", json(order));
    expect(denied).toMatchObject({ status: 401, body: { error_code: 401 } });
    expect(await client(r.url, "wrong")("PUT", "/config", { compatibility: "NONE" })).toMatchObject({ status: 401 });
    expect((await authed("POST", "/subjects/s/versions", json(order))).status).toBe(200);
    // Basic auth with the token as password is what Confluent clients send.
    const basic = { Authorization: `Basic ${Buffer.from("user:s3cret").toString("base64")}` };
    expect((await anon("DELETE", "/subjects/s", undefined, basic)).status).toBe(200);
    expect((await anon("GET", "/subjects?deleted=true")).body).toEqual(["s"]);

    const big = json({ type: "object", description: "x".repeat(5000) });
    const tooBig = await authed("POST", "/subjects/t/versions", big);
    expect(tooBig).toMatchObject({ status: 413, body: { error_code: 413 } });
    expect(tooBig.body.message).toContain("4096");

    await using closed = await startRegistry({ token: "s3cret", protectReads: true });
    expect((await client(closed.url)("GET", "/subjects")).status).toBe(401);
    expect((await client(closed.url, "s3cret")("GET", "/subjects")).status).toBe(200);
  });

  test("schema references resolve and are listed by referencedby", async () => {
    await using r = await startRegistry();
    const call = client(r.url);
    const money = { type: "object", properties: { cents: { type: "integer" } }, required: ["cents"] };
    await call("POST", "/subjects/money/versions", json(money));
    const withRef = { type: "object", properties: { price: { $ref: "money.json" } } };
    const refs = [{ name: "money.json", subject: "money", version: 1 }];
    const reg = await call("POST", "/subjects/item-value/versions", json(withRef, { references: refs }));
    expect(reg.status).toBe(200);
    expect((await call("GET", "/subjects/money/versions/1/referencedby")).body).toEqual([reg.body.id]);
    expect((await call("GET", `/schemas/ids/${reg.body.id}`)).body.references).toEqual(refs);
    const missing = await call("POST", "/subjects/x/versions", json(withRef, { references: [{ name: "money.json", subject: "money", version: 9 }] }));
    expect(missing.body.error_code).toBe(42201);
  });
});
