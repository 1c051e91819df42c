import { expect, test } from "bun:test";
import { Kvm } from "@nats-io/kv";
import { acquireInstanceLock, LOCK_BUCKET, LockHeldError, LockLostError } from "./instance-lock.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadApp } from "../contract/mod.ts";
import { appNames, ensureAppStreams, startNats } from "../nats/mod.ts";
import { startRuntime } from "../mod.ts";
import { client, publishAll } from "../testing/mod.ts";

const ORDER_APP = new URL("../testdata/order-app.ts", import.meta.url).pathname;

test("a lock another instance takes over is lost: the holder's replay stops with the reason", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const lock = await acquireInstanceLock(c.nc, { name: "weir_x_state", what: "app x", ttlMs: 600 });
  await expect(acquireInstanceLock(c.nc, { name: "weir_x_state", what: "app x", ttlMs: 600 })).rejects.toThrow(LockHeldError);
  await lock.release();
  const again = await acquireInstanceLock(c.nc, { name: "weir_x_state", what: "app x", ttlMs: 600 });
  await again.release();

  // A replay holds the lock of its namespace.
  await ensureAppStreams(await jetstreamManager(c.nc), await loadApp(ORDER_APP));
  await publishAll(c.js, [{ subject: "t.in.k", value: { id: 0, k: "k", n: 1 } }]);
  const rt = await startRuntime({ app: ORDER_APP, nats: nats.url, workers: 1, logLevel: "silent", lockTtlMs: 600, replay: { into: "fix1", from: 1 } });
  const kv = await new Kvm(c.nc).open(LOCK_BUCKET);
  await kv.put(appNames("order", "fix1").bucket, new TextEncoder().encode(JSON.stringify({ holder: "intruder", ttlMs: 600, since: 0 })));
  const err = await rt.done.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(LockLostError);
  expect(String(err)).toContain("taken over by another instance");
});
