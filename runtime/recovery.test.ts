import { expect, test } from "bun:test";
import { startNats, appNames, ensureAppStreams } from "./nats/mod.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadApp } from "./contract/mod.ts";
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

test("SIGKILL at 5 random moments during 200k events: exact final state, each output exactly once", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  // Create the app's streams first so the whole backlog is in place before the first run.
  await ensureAppStreams(await jetstreamManager(c.nc), await loadApp(ORDER_APP));

  const { events, expected } = orderWorkload(7, TOTAL, KEYS, 10);
  const lastSeq = await publishAll(c.js, events);

  const progress = () => storedProgress(c.nc, "order", PARTITIONS);

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
});
