import { expect, test } from "bun:test";
import { appNames, DLQ_HEADERS, produce, startRuntime } from "../runtime/internal.ts";
import { client, readStream, startNats } from "../runtime/testing/mod.ts";

const ORDER_APP = new URL("../runtime/testdata/order-app.ts", import.meta.url).pathname;
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
