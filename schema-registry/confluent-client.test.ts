// Acceptance: Confluent's official JavaScript client (`@confluentinc/schemaregistry`), unchanged, against
// a running weir registry. Every value the client hands back is checked against what the registry
// answers over plain HTTP, so a drift in field names, statuses or error bodies fails here.
import { describe, expect, test } from "bun:test";
import { Compatibility, RestError, SchemaRegistryClient, type ClientConfig, type SchemaInfo, type ServerConfig } from "@confluentinc/schemaregistry";
import { client, startRegistry } from "./testdata/helpers.ts";

const order = {
  type: "object",
  properties: { order_id: { type: "string" }, amount: { type: "number" } },
  required: ["order_id", "amount"],
};
/** amount becomes optional: readers of old data still cope, compatible under BACKWARD. */
const relaxedOrder = { ...order, required: ["order_id"] };
/** Closing the open content model: incompatible under the default STRICT policy, compatible under LENIENT. */
const closedOrder = { ...order, additionalProperties: false };
/** amount number → integer: a narrowing, incompatible under BACKWARD. */
const narrowedOrder = { ...order, properties: { ...order.properties, amount: { type: "integer" } } };

const info = (schema: unknown, pretty = false): SchemaInfo => ({
  schemaType: "JSON",
  schema: pretty ? JSON.stringify(schema, null, 2) : JSON.stringify(schema),
});

/** A client that fails fast: no retries, short timeout, and a fresh (empty) cache per instance. */
function confluent(url: string, extra: Partial<ClientConfig> = {}): SchemaRegistryClient {
  return new SchemaRegistryClient({
    baseURLs: [url],
    maxRetries: 0,
    retriesWaitMs: 1,
    retriesMaxWaitMs: 1,
    createAxiosDefaults: { timeout: 10_000 },
    ...extra,
  });
}

/** The RestError a client call rejects with (fails the test if it resolves or throws something else). */
async function restError(p: Promise<unknown>): Promise<RestError> {
  const err = await p.then(
    (v) => {
      throw new Error(`expected a RestError, the call answered ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RestError);
  return err as RestError;
}

describe("official Confluent client against weir (real nats-server)", () => {
  test("register, latest, by id, id lookup, compatibility tests and config round-trip", async () => {
    await using r = await startRegistry();
    const call = client(r.url);
    const sr = confluent(r.url);
    try {
      // register: the id the client returns is the one the registry stored.
      const id1 = await sr.register("orders-value", info(order));
      const v1 = await call("GET", "/subjects/orders-value/versions/1");
      expect(v1.status).toBe(200);
      expect(id1).toBe(v1.body.id);
      expect(typeof id1).toBe("number");

      // registerFullResponse in another subject: same global id, version 1, the schema text back.
      const full = await sr.registerFullResponse("archive-value", info(order));
      expect(full).toMatchObject({ subject: "archive-value", version: 1, id: id1, schemaType: "JSON" });
      expect(JSON.parse(full.schema)).toEqual(order);

      // getLatestSchemaMetadata: exactly what GET /subjects/:s/versions/latest answers.
      const latest = await sr.getLatestSchemaMetadata("orders-value");
      const latestHttp = await call("GET", "/subjects/orders-value/versions/latest");
      expect(latest).toEqual(latestHttp.body);
      expect(latest).toEqual({ subject: "orders-value", version: 1, id: id1, schemaType: "JSON", schema: JSON.stringify(order) });

      // getBySubjectAndId: GET /schemas/ids/:id?subject=… — schema text round-trips.
      const byId = await sr.getBySubjectAndId("orders-value", id1);
      expect(byId).toEqual((await call("GET", `/schemas/ids/${id1}`)).body);
      expect(byId.schemaType).toBe("JSON");
      expect(JSON.parse(byId.schema)).toEqual(order);
      // An unknown id is the client's RestError with Confluent's 40403.
      const noId = await restError(confluent(r.url).getBySubjectAndId("orders-value", 999));
      expect({ status: noId.status, errorCode: noId.errorCode }).toEqual({ status: 404, errorCode: 40403 });

      // getId from a client with an empty cache (so it really POSTs /subjects/:s), re-formatted text.
      const fresh = confluent(r.url);
      expect(await fresh.getId("orders-value", info(order, true))).toBe(id1);
      const idFull = await confluent(r.url).getIdFullResponse("orders-value", info(order));
      expect(idFull).toMatchObject({ subject: "orders-value", version: 1, id: id1 });
      // A schema not under the subject: 404 / 40403; an unknown subject: 404 / 40401.
      const notThere = await restError(confluent(r.url).getId("orders-value", info({ type: "string" })));
      expect({ status: notThere.status, errorCode: notThere.errorCode }).toEqual({ status: 404, errorCode: 40403 });
      const noSubject = await restError(confluent(r.url).getId("nope-value", info(order)));
      expect({ status: noSubject.status, errorCode: noSubject.errorCode }).toEqual({ status: 404, errorCode: 40401 });

      // testSubjectCompatibility (POST /compatibility/subjects/:s/versions/latest) under the default
      // BACKWARD (STRICT policy): narrowing and closing the model are refused, making a field optional is not.
      expect(await sr.testSubjectCompatibility("orders-value", info(narrowedOrder))).toBe(false);
      expect(await sr.testSubjectCompatibility("orders-value", info(relaxedOrder))).toBe(true);
      expect(await sr.testSubjectCompatibility("orders-value", info(closedOrder))).toBe(false);
      // The client's booleans are the registry's own answers.
      for (const [schema, expected] of [[narrowedOrder, false], [relaxedOrder, true], [closedOrder, false]] as const) {
        const http = await call("POST", "/compatibility/subjects/orders-value/versions/latest", info(schema));
        expect(http.body).toEqual({ is_compatible: expected });
      }
      expect(await sr.testCompatibility("orders-value", 1, info(relaxedOrder))).toBe(true);
      expect(await sr.testCompatibility("orders-value", 1, info(narrowedOrder))).toBe(false);

      // Registering the incompatible one is refused with 409; the compatible one becomes version 2.
      const refused = await restError(sr.register("orders-value", info(narrowedOrder)));
      expect({ status: refused.status, errorCode: refused.errorCode }).toEqual({ status: 409, errorCode: 409 });
      expect(refused.message).toContain("#/properties/amount");
      const id2 = await sr.register("orders-value", info(relaxedOrder));
      expect(id2).not.toBe(id1);
      expect((await call("GET", "/subjects/orders-value/versions/2")).body).toMatchObject({ version: 2, id: id2 });
      const latest2 = await confluent(r.url).getLatestSchemaMetadata("orders-value");
      expect(latest2).toMatchObject({ subject: "orders-value", version: 2, id: id2 });
      expect(JSON.parse(latest2.schema)).toEqual(relaxedOrder);
      expect(await sr.getAllVersions("orders-value")).toEqual([1, 2]);
      expect(await sr.getAllSubjects()).toEqual(["archive-value", "orders-value"]);

      // Config. No subject-level config yet: Confluent's 404 / 40408 (the client has no defaultToGlobal).
      const noConfig = await restError(sr.getConfig("orders-value"));
      expect({ status: noConfig.status, errorCode: noConfig.errorCode }).toEqual({ status: 404, errorCode: 40408 });
      expect(await sr.getDefaultConfig()).toEqual({ compatibilityLevel: Compatibility.BACKWARD });
      expect(await sr.getDefaultCompatibility()).toBe(Compatibility.BACKWARD);

      // PUT answers `compatibility`, GET answers `compatibilityLevel` (as Confluent's server does).
      expect(await sr.updateConfig("orders-value", { compatibility: Compatibility.FULL })).toEqual({ compatibility: Compatibility.FULL });
      expect(await sr.getConfig("orders-value")).toEqual({ compatibilityLevel: Compatibility.FULL });
      expect((await call("GET", "/config/orders-value")).body).toEqual({ compatibilityLevel: "FULL" });
      expect(await sr.getCompatibility("orders-value")).toBe(Compatibility.FULL);
      // The level-only helpers read and write the same fields.
      expect(await sr.updateCompatibility("orders-value", Compatibility.NONE)).toBe(Compatibility.NONE);
      expect(await sr.getCompatibility("orders-value")).toBe(Compatibility.NONE);
      // Under NONE the narrowing that BACKWARD refused is accepted.
      expect(await sr.testSubjectCompatibility("orders-value", info(narrowedOrder))).toBe(true);
      // The global default is untouched.
      expect(await sr.getDefaultCompatibility()).toBe(Compatibility.BACKWARD);

      // weir's `compatibilityPolicy` (not in the client's ServerConfig type; the client sends the object
      // as it is): LENIENT makes closing the content model compatible.
      expect(await sr.updateCompatibility("orders-value", Compatibility.BACKWARD)).toBe(Compatibility.BACKWARD);
      expect(await sr.testCompatibility("orders-value", 1, info(closedOrder))).toBe(false);
      const lenient = { compatibilityPolicy: "LENIENT" } as ServerConfig;
      // As Confluent does, the PUT answer echoes the update; the GET answers the whole config.
      expect(await sr.updateConfig("orders-value", lenient)).toEqual({ compatibilityPolicy: "LENIENT" } as ServerConfig);
      expect(await sr.getConfig("orders-value")).toEqual({ compatibilityLevel: Compatibility.BACKWARD, compatibilityPolicy: "LENIENT" } as ServerConfig);
      expect(await sr.getConfig("orders-value")).toEqual({ compatibilityLevel: Compatibility.BACKWARD, compatibilityPolicy: "LENIENT" } as ServerConfig);
      expect(await sr.testCompatibility("orders-value", 1, info(closedOrder))).toBe(true);
      // An invalid level: 422 / 42203.
      const badLevel = await restError(sr.updateConfig("orders-value", { compatibility: "SIDEWAYS" as Compatibility }));
      expect({ status: badLevel.status, errorCode: badLevel.errorCode }).toEqual({ status: 422, errorCode: 42203 });
    } finally {
      await sr.close();
    }
  });

  test("token-protected registry: Basic (password = token) and static bearer clients write; no or wrong credentials get 401", async () => {
    await using r = await startRegistry({ token: "s3cret" });
    const call = client(r.url);

    const basic = confluent(r.url, { basicAuthCredentials: { credentialsSource: "USER_INFO", userInfo: "weir:s3cret" } });
    const id = await basic.register("orders-value", info(order));
    expect(id).toBe((await call("GET", "/subjects/orders-value/versions/1")).body.id);
    expect(await basic.testSubjectCompatibility("orders-value", info(relaxedOrder))).toBe(true);
    expect(await basic.testSubjectCompatibility("orders-value", info(narrowedOrder))).toBe(false);
    expect(await basic.updateConfig("orders-value", { compatibility: Compatibility.FULL })).toEqual({ compatibility: Compatibility.FULL });
    expect((await call("GET", "/config/orders-value")).body).toEqual({ compatibilityLevel: "FULL" });

    // STATIC_TOKEN needs a logicalCluster (sent as `target-sr-cluster`, which weir ignores).
    const bearer = confluent(r.url, {
      bearerAuthCredentials: { credentialsSource: "STATIC_TOKEN", token: "s3cret", logicalCluster: "lsrc-weir" },
    });
    const other = await bearer.registerFullResponse("other-value", info({ type: "string" }));
    expect(other).toMatchObject({ subject: "other-value", version: 1 });
    expect(other.id).toBe((await call("GET", "/subjects/other-value/versions/latest")).body.id);
    expect(other.id).not.toBe(id);

    // No credentials: writes are 401 with error_code 401 in Confluent's body; reads stay open.
    const anon = confluent(r.url);
    const denied = await restError(anon.register("anon-value", info(order)));
    expect({ status: denied.status, errorCode: denied.errorCode }).toEqual({ status: 401, errorCode: 401 });
    expect(denied.message).toContain("Unauthorized");
    const deniedConfig = await restError(anon.updateConfig("orders-value", { compatibility: Compatibility.NONE }));
    expect({ status: deniedConfig.status, errorCode: deniedConfig.errorCode }).toEqual({ status: 401, errorCode: 401 });
    expect(await anon.getLatestSchemaMetadata("orders-value")).toMatchObject({ version: 1, id });
    expect(await anon.getConfig("orders-value")).toEqual({ compatibilityLevel: Compatibility.FULL });

    // Wrong password, wrong bearer token: 401 too; nothing was written.
    const wrong = confluent(r.url, { basicAuthCredentials: { credentialsSource: "USER_INFO", userInfo: "weir:guess" } });
    const wrongErr = await restError(wrong.register("anon-value", info(order)));
    expect({ status: wrongErr.status, errorCode: wrongErr.errorCode }).toEqual({ status: 401, errorCode: 401 });
    const wrongBearer = confluent(r.url, {
      bearerAuthCredentials: { credentialsSource: "STATIC_TOKEN", token: "guess", logicalCluster: "lsrc-weir" },
    });
    const wrongBearerErr = await restError(wrongBearer.register("anon-value", info(order)));
    expect({ status: wrongBearerErr.status, errorCode: wrongBearerErr.errorCode }).toEqual({ status: 401, errorCode: 401 });
    expect(await anon.getAllSubjects()).toEqual(["orders-value", "other-value"]);
  });

  test("protectReads: the credentialed client reads, an anonymous one gets 401 on reads", async () => {
    await using r = await startRegistry({ token: "s3cret", protectReads: true });
    const basic = confluent(r.url, { basicAuthCredentials: { credentialsSource: "USER_INFO", userInfo: "weir:s3cret" } });
    const id = await basic.register("orders-value", info(order));
    expect(await basic.getLatestSchemaMetadata("orders-value")).toEqual({
      subject: "orders-value",
      version: 1,
      id,
      schemaType: "JSON",
      schema: JSON.stringify(order),
    });
    expect(JSON.parse((await basic.getBySubjectAndId("orders-value", id)).schema)).toEqual(order);

    const anon = confluent(r.url);
    const reads = [() => anon.getLatestSchemaMetadata("orders-value"), () => anon.getBySubjectAndId("orders-value", id), () => anon.getAllSubjects()];
    for (const read of reads) {
      const err = await restError(read());
      expect({ status: err.status, errorCode: err.errorCode }).toEqual({ status: 401, errorCode: 401 });
    }
  });
});
