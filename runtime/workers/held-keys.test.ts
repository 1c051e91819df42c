import { expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { appNames } from "../nats/mod.ts";
import { startRuntime } from "../runtime.ts";
import { client, publishAll, readStream, rng, startNats, storedStates, waitFor } from "../testing/mod.ts";
import { heldFlag } from "../testdata/held-app.ts";

const HELD_APP = new URL("../testdata/held-app.ts", import.meta.url).pathname;

test("a failing event holds back only its own key: every other key is processed while it retries, a clean stop does not wait for it, and after a restart each output is out once, in key order", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const random = rng(11);
  // 3,000 events over 30 keys; k7's event 500 fails until its service is back.
  const events = Array.from({ length: 3_000 }, (_, id) => {
    const drawn = `k${Math.floor(random() * 30)}`;
    const k = id === 500 ? "k7" : drawn;
    return { subject: `hd.in.${k}`, value: { id, k, n: id === 500 ? 13 : 1 + Math.floor(random() * 9) } };
  });
  const blocked = events.filter((e) => e.value.k === "k7" && e.value.id >= 500).length;
  const names = appNames("held");
  const outputs = async () => (await readStream(c.nc, names.output)).map((m) => m.value as { id: number; k: string; after: number });

  writeFileSync(heldFlag(), "");
  try {
    const rt = await startRuntime({ app: HELD_APP, nats: nats.url, workers: 2, logLevel: "error" });
    await publishAll(c.js, events);
    // Everything but k7 from its failing event on is processed while that event retries.
    await waitFor(async () => (await outputs()).length >= events.length - blocked, 60_000, "the other keys' outputs");
    const whileHeld = await outputs();
    expect(whileHeld.length).toBe(events.length - blocked);
    expect(whileHeld.filter((o) => o.k === "k7" && o.id >= 500)).toEqual([]);
    expect(await readStream(c.nc, names.dlq)).toEqual([]);
    // A clean stop while k7 is held: its snapshot stops short of event 500.
    await rt.stop();

    const again = await startRuntime({ app: HELD_APP, nats: nats.url, workers: 2, logLevel: "error" });
    await Bun.sleep(300);
    rmSync(heldFlag());
    await again.drained();
    await again.stop();
  } finally {
    rmSync(heldFlag(), { force: true });
  }

  const out = await outputs();
  expect(out.length).toBe(events.length);
  expect(new Set(out.map((o) => o.id)).size).toBe(events.length);
  // Per key, each output follows the key's previous event: order held across the hold and the restart.
  const last = new Map<string, number>();
  for (const e of events) {
    const o = out.find((x) => x.id === e.value.id)!;
    expect(o.after).toBe(last.get(e.value.k) ?? -1);
    last.set(e.value.k, e.value.id);
  }
  const sums = new Map<string, number>();
  for (const { value } of events) sums.set(value.k, (sums.get(value.k) ?? 0) + value.n);
  const states = await storedStates(c.nc, names.bucket);
  expect(new Map([...states].map(([k, r]) => [k.slice("sum/".length), (r.state as { sum: number }).sum]))).toEqual(sums);
  expect(await readStream(c.nc, names.dlq)).toEqual([]);
}, 120_000);
