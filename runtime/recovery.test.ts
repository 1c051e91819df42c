import { expect, test } from "bun:test";
import { startNats, appNames } from "./nats/mod.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { ORIGIN_HEADER, partitionOf } from "./route/mod.ts";
import { client, KILLED_LOCK_TTL, publishAll, readStream, orderWorkload, spawnWeir, storedProgress, storedStates, waitFor } from "./testing/mod.ts";

const ORDER_APP = new URL("./testdata/order-app.ts", import.meta.url).pathname;
const TOTAL = 200_000;
const KEYS = 2_000;
const PARTITIONS = 16;

function startChild(url: string) {
  const child = spawnWeir([ORDER_APP, "--nats", url, "--workers", "2", "--no-progress", ...KILLED_LOCK_TTL]);
  child.started.then(() => process.stderr.write(`  child: ${child.out.log.trim().split("\n").pop()!.replace(/^.*resuming/, "resuming")}\n`)).catch(() => {});
  return child;
}

test("SIGKILL at 5 random moments during 200k events on a stream weir does not control: the repartition step copies each event once, in order; exact final state, each output exactly once", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  // The producers' own stream, keyed by a payload field: the app binds to it and repartitions it.
  await (await jetstreamManager(c.nc)).streams.add({ name: "ORDERS", subjects: ["t.in.>"] });

  const { events, expected } = orderWorkload(7, TOTAL, KEYS, 10);
  const lastSeq = await publishAll(c.js, events);

  const progress = () => storedProgress(c.nc, "order", PARTITIONS, "ORDERS");

  const kills = Array.from({ length: 5 }, () => 150 + Math.floor(Math.random() * 1200));
  process.stderr.write(`  kill delays (ms after start): ${kills.join(", ")}\n`);
  for (const delay of kills) {
    const { proc, started } = startChild(nats.url);
    await started;
    await Bun.sleep(delay);
    proc.kill("SIGKILL");
    await proc.exited;
    expect(proc.signalCode).toBe("SIGKILL");
  }
  const beforeFinal = await progress();
  process.stderr.write(`  stored progress before the final run: ${beforeFinal} of ${lastSeq}\n`);

  const { proc, started } = startChild(nats.url);
  await started;
  await waitFor(async () => (await progress()) >= lastSeq, 180_000, "the final run to finish the stream");
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);

  const states = await storedStates(c.nc, appNames("order").bucket);
  expect(states.size).toBe(expected.size);
  for (const [k, e] of expected) {
    const s = states.get(`acc/${k}`)!.state as { sum: number; count: number; outOfOrder: number };
    expect({ k, sum: s.sum, count: s.count, outOfOrder: s.outOfOrder }).toEqual({ k, sum: e.sum, count: e.count, outOfOrder: 0 });
  }
  const outputs = await readStream(c.nc, appNames("order").output);
  const ids = outputs.map((o) => (o.value as { id: number }).id);
  expect(new Set(ids).size).toBe(TOTAL);
  expect(outputs.length).toBe(TOTAL);

  // What the step wrote, SIGKILLed five times: each message of ORDERS exactly once, in its key's
  // partition, in the order of ORDERS.
  const copied: number[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const origins = (await readStream(c.nc, appNames("order").partitionStream(p))).map((m) => {
      expect(partitionOf((m.value as { k: string }).k, PARTITIONS)).toBe(p);
      const [stream, seq] = m.headers[ORIGIN_HEADER]!.split(":");
      expect(stream).toBe("ORDERS");
      return Number(seq);
    });
    expect(origins.every((seq, i) => i === 0 || seq > origins[i - 1]!)).toBe(true);
    copied.push(...origins);
  }
  expect(copied.length).toBe(TOTAL);
  expect(new Set(copied).size).toBe(TOTAL);
});
