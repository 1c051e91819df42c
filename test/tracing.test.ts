import { expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { otelSpansFile } from "../runtime/testdata/otel-app.ts";
import { appNames, DLQ_HEADERS, produce, startRuntime } from "../runtime/internal.ts";
import { client, readStream, startNats } from "../runtime/testing/mod.ts";

const ORDER_APP = new URL("../runtime/testdata/order-app.ts", import.meta.url).pathname;
const OTEL_APP = new URL("../runtime/testdata/otel-app.ts", import.meta.url).pathname;
const trace = (n: number) => `00-${n.toString(16).padStart(32, "0")}-${(n + 1).toString(16).padStart(16, "0")}-01`;

test("a producer's traceparent is found on the output the event causes and on its dead letters (at the repartition step and in the handler)", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const rt = await startRuntime({ app: ORDER_APP, nats: nats.url, workers: 1, logLevel: "error" });
  try {
    await produce(c.js, "t.in.a", { id: 1, k: "a", n: 1 }, { traceparent: trace(1) });
    await produce(c.js, "t.in.a", { id: 2, k: "a", n: 2 }); // none: its output carries none
    await produce(c.js, "t.in.a", { id: 3, n: 3 }, { traceparent: trace(3) }); // no key: dead-lettered as it is copied into the partitions
    await produce(c.js, "t.in.a", { id: 4, k: "a", n: "four" }, { traceparent: trace(4) }); // against the actor's schema: dead-lettered by the handler's host
    await rt.drained();
  } finally {
    await rt.stop();
  }
  const outputs = await readStream(c.nc, appNames("order").output);
  expect(outputs.map((o) => [(o.value as { id: number }).id, o.headers.traceparent])).toEqual([
    [1, trace(1)],
    [2, undefined],
  ]);
  const dlq = await readStream(c.nc, appNames("order").dlq);
  expect(dlq.map((d) => [d.headers[DLQ_HEADERS.error], d.headers.traceparent]).sort()).toEqual([
    ["MissingKeyError", trace(3)],
    ["ValidationError", trace(4)],
  ]);
});

test("with an OpenTelemetry SDK registered by the app's module, each traced event's processing is a span, child of the producer's; its outputs and dead letters carry that span", async () => {
  const spansFile = otelSpansFile();
  rmSync(spansFile, { force: true });
  await using nats = await startNats();
  await using c = await client(nats.url);
  const rt = await startRuntime({ app: OTEL_APP, nats: nats.url, workers: 2, logLevel: "error" });
  try {
    await produce(c.js, "t.in.a", { id: 1, k: "a", n: 1 }, { traceparent: trace(1) });
    await produce(c.js, "t.in.b", { id: 2, k: "b", n: "two" }, { traceparent: trace(2) });
    await produce(c.js, "t.in.c", { id: 3, k: "c", n: 3 });
    await rt.drained();
  } finally {
    await rt.stop();
  }
  const spans = readFileSync(spansFile, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  // One span per traced event (the untraced one has none), in the producer's trace, its span the parent.
  expect(spans.map((s) => [s.name, s.traceId, s.parentSpanId, s.attributes["weir.key"]]).sort()).toEqual([
    ["process acc", trace(1).split("-")[1], trace(1).split("-")[2], "a"],
    ["process acc", trace(2).split("-")[1], trace(2).split("-")[2], "b"],
  ]);
  rmSync(spansFile, { force: true });
  const ok = spans.find((s) => s.attributes["weir.key"] === "a");
  const failed = spans.find((s) => s.attributes["weir.key"] === "b");
  expect([ok.status, failed.status]).toEqual([0, 2]);
  expect(failed.attributes["weir.error"]).toBe("ValidationError");
  const outputs = await readStream(c.nc, appNames("otel").output);
  expect(outputs.find((o) => (o.value as { id: number }).id === 1)!.headers.traceparent).toBe(`00-${ok.traceId}-${ok.spanId}-01`);
  expect(outputs.find((o) => (o.value as { id: number }).id === 3)!.headers.traceparent).toBeUndefined();
  const dlq = await readStream(c.nc, appNames("otel").dlq);
  expect(dlq.map((d) => d.headers.traceparent)).toEqual([`00-${failed.traceId}-${failed.spanId}-01`]);
});
