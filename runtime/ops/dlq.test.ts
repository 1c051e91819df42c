import { expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/nats-core";
import { rmSync, writeFileSync } from "node:fs";
import { DLQ_HEADERS } from "../output/mod.ts";
import { flakyFlag } from "../testdata/flaky-app.ts";
import { startNats, appNames } from "../nats/mod.ts";
import { startRuntime } from "../mod.ts";
import { client, publishAll, readStream, storedStates, weirCli } from "../testing/mod.ts";

const FLAKY_APP = new URL("../testdata/flaky-app.ts", import.meta.url).pathname;

test("a failing handler is retried with backoff, then dead-lettered; dlq stats/show report it; after the fix, redrive processes each once", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const events = [
    { subject: "fl.in.a", value: { k: "a", n: 1 } },
    { subject: "fl.in.a", value: { k: "a", n: 13 } },
    { subject: "fl.in.b", value: { k: "b", n: 13 } },
    { subject: "fl.in.b", value: { k: "b", n: 99 } }, // hangs: past the 300 ms deadline, retried, dead-lettered
    { subject: "fl.in.a", value: { k: "a", n: 2 } },
  ];

  writeFileSync(flakyFlag(), "");
  try {
    const rt = await startRuntime({ app: FLAKY_APP, nats: nats.url, workers: 1, logLevel: "error" });
    await publishAll(c.js, events);
    await rt.drained();
    await rt.stop();
  } finally {
    rmSync(flakyFlag());
  }
  const states = async () => new Map([...(await storedStates(c.nc, appNames("flaky").bucket))].map(([k, r]) => [k, (r.state as { sum: number }).sum]));
  // The keys moved on past their failing events (b had nothing but failures: no state stored).
  expect(await states()).toEqual(new Map([["sum/a", 3]]));
  const dlq = await readStream(c.nc, appNames("flaky").dlq);
  expect(dlq).toHaveLength(3);
  const reasons = dlq.map((m) => m.headers[DLQ_HEADERS.reason]!);
  expect(reasons.filter((r) => r.includes("unlucky 13") && r.includes("(after 3 attempts)"))).toHaveLength(2);
  expect(reasons.filter((r) => r.includes("did not finish within 300 ms") && r.includes("(after 3 attempts)"))).toHaveLength(1);

  const stats = await weirCli("dlq", "stats", FLAKY_APP, "--nats", nats.url);
  expect(stats.code).toBe(0);
  expect(stats.out).toContain("3 dead letters of app flaky");
  expect(stats.out).toMatch(/\s2\s+HandlerError\s+handler of sum failed: unlucky #/);
  expect(stats.out).toMatch(/\s1\s+HandlerError\s+handler of sum did not finish within # ms/);
  expect(stats.out).toMatch(/\s2\s+fl\.in\.b/);
  const show = await weirCli("dlq", "show", "flaky", "--nats", nats.url, "--subject", "fl.in.a");
  expect(show.out).toContain(`${DLQ_HEADERS.reason}: handler of sum failed: unlucky 13 (after 3 attempts)`);
  expect(show.out).toContain(`${DLQ_HEADERS.subject}: fl.in.a`);
  expect(show.out).toContain('payload: {"k":"a","n":13}');
  expect(show.out).toContain("1 of 1 shown");

  // The fix is deployed (the flag file is gone): redrive the unlucky ones, twice; only the first sends.
  const first = await weirCli("dlq", "redrive", "flaky", "--nats", nats.url, "--error", "HandlerError", "--subject", "fl.in.>");
  expect(first.out).toContain("3 redriven, 0 already");
  const again = await weirCli("dlq", "redrive", "flaky", "--nats", nats.url);
  expect(again.out).toContain("0 redriven, 3 already");
  const rt = await startRuntime({ app: FLAKY_APP, nats: nats.url, workers: 1, logLevel: "error" });
  await rt.drained();
  await rt.stop();
  // a: 1 + 2 + 13; b: 13 (its 99 hangs again and is dead-lettered again, not counted).
  expect(await states()).toEqual(new Map([["sum/a", 16], ["sum/b", 13]]));
  expect((await readStream(c.nc, appNames("flaky").dlq)).length).toBe(4);

  // Bad usage: one line, exit 2.
  const bad = await weirCli("dlq", "purge", "flaky");
  expect(bad.code).toBe(2);
  expect(bad.err.trim().split("\n")).toHaveLength(1);
});

test("dlq stats and show read every one of 300k dead letters, and say how many they read", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const names = appNames("big");
  await (await jetstreamManager(c.nc)).streams.add({ name: names.dlq, subjects: [names.dlqSubject] });
  const TOTAL = 300_000;
  const data = new Uint8Array([0xc0]); // msgpack nil
  for (let i = 0; i < TOTAL; i += 5_000) {
    const acks: Promise<unknown>[] = [];
    for (let j = i; j < i + 5_000; j++) {
      const h = headers();
      h.set(DLQ_HEADERS.error, j % 3 === 0 ? "ValidationError" : "HandlerError");
      h.set(DLQ_HEADERS.reason, `failed on ${j}`);
      h.set(DLQ_HEADERS.subject, `big.in.${j % 10}`);
      acks.push(c.js.publish(names.dlqSubject, data, { headers: h }));
    }
    await Promise.all(acks);
  }
  const stats = await weirCli("dlq", "stats", "big", "--nats", nats.url);
  expect(stats.code).toBe(0);
  expect(stats.out).toContain(`${TOTAL} dead letters of app big`);
  expect(stats.out).toContain(`(read ${TOTAL} messages of stream ${names.dlq})`);
  expect(stats.out).toContain(`${String(TOTAL / 3).padStart(7)}  ValidationError  failed on #`);
  expect(stats.out).toContain(`${String((TOTAL * 2) / 3).padStart(7)}  HandlerError  failed on #`);
  const show = await weirCli("dlq", "show", "big", "--nats", nats.url, "--error", "ValidationError", "--limit", "2");
  expect(show.code).toBe(0);
  expect(show.out).toContain(`2 of ${TOTAL / 3} shown (read ${TOTAL} messages of stream ${names.dlq})`);
}, 180_000);
