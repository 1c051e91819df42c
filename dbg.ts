import { spawn } from "bun";
import { startNats } from "./runtime/mod.ts";
import { client, publishAll, rng, spawnWeir } from "./runtime/testdata/helpers.ts";
import { ensureAppStreams } from "./runtime/streams.ts";
import { loadApp } from "./runtime/app.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { generate } from "./apps/generator.ts";
import { mkdtempSync } from "node:fs";
await using nats = await startNats();
await using c = await client(nats.url);
const APP = "./apps/payments-ledger/main.ts";
await ensureAppStreams(await jetstreamManager(c.nc), await loadApp(APP));
const CURRENCIES = ["EUR", "USD", "GBP"];
const events = generate<any>({ seed: 73, n: 100000, stepMs: 100, outOfOrdernessMs: 30_000, latenessMs: 0, tooLateMs: 1, tooLateRate: 0, lateRate: 0.1, dupRate: 0.1 }, (i, time, rnd) => {
  const a = Math.floor(rnd() * 500);
  const value = { event_id: `pay-${i}`, account_id: `acct-${a}`, amount: Math.floor(rnd() * 25_000) - 5_000, currency: CURRENCIES[a % 3]!, event_time: time };
  return { subject: `payments.${value.account_id}`, value, id: value.event_id };
});
await publishAll(c.js, events);
const sink = `sqlite:${mkdtempSync("/tmp/dbg-")}/out.db`;
const args = [APP, "--nats", nats.url, "--workers", "2", "--max-in-flight", "8192", "--no-progress", "--no-http", "--sink", sink];
const rnd = rng(73);
for (let i = 0; i < 5; i++) {
  const ch = spawnWeir(args);
  await ch.started;
  await Bun.sleep(i === 0 ? 100 + Math.floor(rnd() * 200) : 150 + Math.floor(rnd() * 700));
  ch.proc.kill("SIGKILL"); await ch.proc.exited;
  console.log("killed", i, ch.out.log.trim().split("\n").pop());
}
const proc = spawn([process.execPath, "runtime/main.ts", "run", ...args, "--log-level", "debug", "--progress"], { stderr: "inherit", stdout: "inherit" });
await Bun.sleep(15000);
const jsm = await jetstreamManager(c.nc);
for await (const ci of jsm.consumers.list("weir_ledger_in")) console.log(ci.name, "delivered", ci.delivered.stream_seq, "ackfloor", ci.ack_floor.stream_seq, "pending", ci.num_pending, "waiting", ci.num_waiting, "created", ci.created);
proc.kill("SIGKILL");
await proc.exited;
