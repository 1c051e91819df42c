import { expect, test } from "bun:test";
import { Kvm } from "@nats-io/kv";
import { acquireInstanceLock, LOCK_BUCKET, LockHeldError, LockLostError } from "./instance-lock.ts";
import { startNats, appNames } from "../nats/mod.ts";
import { startRuntime } from "../mod.ts";
import { client, publishAll, spawnWeir, waitFor, weirCli } from "../testing/mod.ts";

const ORDER_APP = new URL("../testdata/order-app.ts", import.meta.url).pathname;

test("one instance per app: a second start is refused; after kill -9 the next start takes over within the TTL; a clean stop frees it at once", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const args = [ORDER_APP, "--nats", nats.url, "--workers", "1", "--no-progress", "--no-http"];
  const first = spawnWeir(args);
  await first.started;

  let t0 = performance.now();
  const second = await weirCli("run", ...args);
  process.stderr.write(`  second start refused after ${Math.round(performance.now() - t0)} ms\n`);
  expect(second.code).toBe(1);
  expect(second.err.trim().split("\n")).toHaveLength(1);
  expect(second.err).toContain("app order is already running");
  const replay = await weirCli("replay", ORDER_APP, "--nats", nats.url, "--from", "1", "--into", "live", "--no-registry");
  expect(replay.code).toBe(1);
  expect(replay.err).toContain("app order is already running");

  first.proc.kill("SIGKILL");
  await first.proc.exited;
  t0 = performance.now();
  const third = spawnWeir(args);
  // The default TTL is 10 s: the lock of the killed instance is taken over once it has gone that long without renewal.
  await Promise.race([third.started, Bun.sleep(20_000).then(() => Promise.reject(new Error(`no take-over: ${third.out.log}`)))]);
  process.stderr.write(`  start after kill -9 took over the lock after ${Math.round(performance.now() - t0)} ms\n`);
  expect(third.out.log).toContain("took over the instance lock");
  const last = await publishAll(c.js, Array.from({ length: 100 }, (_, id) => ({ subject: `t.in.k${id % 5}`, value: { id, k: `k${id % 5}`, n: 1 } })));
  const kv = await new Kvm(c.nc).open(appNames("order").bucket);
  await waitFor(async () => {
    const metas = await Promise.all(Array.from({ length: 16 }, async (_, p) => (await kv.get(`p.${p}`))?.revision ?? 0));
    return metas.some((r) => r > 0) && last > 0;
  }, 30_000, "the taking-over run to process");
  third.proc.kill("SIGTERM");
  expect(await third.proc.exited).toBe(0);

  t0 = performance.now();
  const fourth = spawnWeir(args);
  await fourth.started;
  process.stderr.write(`  start after a clean stop: ${Math.round(performance.now() - t0)} ms\n`);
  expect(fourth.out.log).not.toContain("took over");
  fourth.proc.kill("SIGTERM");
  expect(await fourth.proc.exited).toBe(0);
});

test("a lock another instance takes over is lost: the holder's runtime stops with the reason", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const lock = await acquireInstanceLock(c.nc, { name: "weir_x_state", what: "app x", ttlMs: 600 });
  await expect(acquireInstanceLock(c.nc, { name: "weir_x_state", what: "app x", ttlMs: 600 })).rejects.toThrow(LockHeldError);
  await lock.release();
  const again = await acquireInstanceLock(c.nc, { name: "weir_x_state", what: "app x", ttlMs: 600 });
  await again.release();

  const rt = await startRuntime({ app: ORDER_APP, nats: nats.url, workers: 1, logLevel: "silent", lockTtlMs: 600 });
  const kv = await new Kvm(c.nc).open(LOCK_BUCKET);
  await kv.put(appNames("order").bucket, new TextEncoder().encode(JSON.stringify({ holder: "intruder", ttlMs: 600, since: 0 })));
  const err = await rt.done.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(LockLostError);
  expect(String(err)).toContain("taken over by another instance");
});
