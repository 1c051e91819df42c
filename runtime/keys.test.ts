import { expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadApp, fromSubjectToken, MAX_KEY_BYTES, subjectToken } from "./contract/mod.ts";
import { startNats, appNames, ensureAppStreams } from "./nats/mod.ts";
import { DLQ_HEADERS } from "./output/mod.ts";
import { startRuntime } from "./runtime.ts";
import { kvSnapshotStore } from "./state/mod.ts";
import { client, publishAll, readStream, weirCli } from "./testing/mod.ts";

const APP = new URL("./testdata/keys-app.ts", import.meta.url).pathname;
const INJECTION = "x\r\nPUB k.raw.injected 2\r\nhi";
const LONG = "x".repeat(10 * 1024);
const KEYS = ["cr\rx", "lf\nx", "a b", "tab\tx", "a.b", "*", ">", "a.*", "ü-ключ-🔑", LONG, "", INJECTION];
/** Keys a raw `k.raw.<key>` subject cannot hold. */
const UNSAFE = new Set(["cr\rx", "lf\nx", "a b", "tab\tx", "*", ">", "a.*", INJECTION]);

test("subject tokens: safe keys unchanged, anything else escaped reversibly", () => {
  expect(subjectToken("acct-7_A")).toBe("acct-7_A");
  expect(subjectToken("a.b c")).toBe("a=2Eb=20c");
  expect(subjectToken("")).toBe("=");
  for (const k of KEYS) {
    expect(subjectToken(k)).toMatch(/^[A-Za-z0-9_=-]+$/);
    expect(fromSubjectToken(subjectToken(k))).toBe(k);
  }
});

test("untrusted keys (CR, LF, spaces, dots, wildcards, unicode, 10 KB, empty) never stop the app nor reach a subject unescaped", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const app = await loadApp(APP);
  const jsm = await jetstreamManager(c.nc);
  await ensureAppStreams(jsm, app);
  const run = async (keys: readonly string[]) => {
    await publishAll(c.js, keys.map((k) => ({ subject: "k.in", value: { k } })));
    // Run, stop, and run again: the same events must not stop a restart either.
    for (let i = 0; i < 2; i++) {
      const rt = await startRuntime({ app: APP, nats: nats.url, workers: 2, logLevel: "error" });
      await rt.drained();
      await rt.stop();
    }
  };
  await run(KEYS);

  const outputs = await readStream(c.nc, appNames("keys").output);
  const escaped = outputs.filter((m) => m.subject.startsWith("k.esc."));
  const usable = KEYS.filter((k) => k !== "" && k !== LONG);
  expect(escaped.map((m) => (m.value as { key: string }).key).sort()).toEqual([...usable].sort());
  for (const m of escaped) expect(m.subject).toBe(`k.esc.${subjectToken((m.value as { key: string }).key)}`);
  const raw = outputs.filter((m) => m.subject.startsWith("k.raw."));
  expect(raw.map((m) => m.subject).sort()).toEqual(["k.raw.a.b", "k.raw.ü-ключ-🔑"].sort());
  // No protocol text got through: nothing was published to the subject the injection names.
  expect(outputs.filter((m) => m.subject === "k.raw.injected")).toEqual([]);

  const dlq = await readStream(c.nc, appNames("keys").dlq);
  const why = dlq.map((m) => `${m.headers[DLQ_HEADERS.actor]} ${m.headers[DLQ_HEADERS.error]}`).sort();
  expect(why).toEqual(
    [
      ...[...UNSAFE].map(() => "raw InvalidSubjectError"),
      "escaped InvalidKeyError",
      "raw InvalidKeyError",
      "escaped MissingKeyError",
      "raw MissingKeyError",
    ].sort(),
  );
  for (const m of dlq) expect(m.headers[DLQ_HEADERS.reason]).not.toMatch(/[\r\n]/);
  const tooLong = dlq.find((m) => m.headers[DLQ_HEADERS.error] === "InvalidKeyError")!;
  expect(tooLong.headers[DLQ_HEADERS.reason]).toContain(`at most ${MAX_KEY_BYTES} bytes`);
  const injected = dlq.find((m) => m.headers[DLQ_HEADERS.key] === "x\\r\\nPUB k.raw.injected 2\\r\\nhi")!;
  expect(injected.headers[DLQ_HEADERS.reason]).toContain("not a valid subject");
  expect(injected.headers[DLQ_HEADERS.reason]).toContain("subjectToken");

  // The state of a dead-lettered event did not change; the app goes on with the next events.
  const store = await kvSnapshotStore(c.nc, { bucket: appNames("keys").bucket });
  expect(await store.loadActor("raw", INJECTION)).toBeNull();
  expect((await store.loadActor("escaped", INJECTION))?.state).toEqual({ n: 1 });
  await run(["after", "a b"]);
  expect((await store.loadActor("raw", "after"))?.state).toEqual({ n: 1 });
  expect((await store.loadActor("escaped", "a b"))?.state).toEqual({ n: 2 });
});

test("an output the broker refuses for its size: too large for the server is the event's dead letter, too large for its stream a dead letter of its own", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const jsm = await jetstreamManager(c.nc);
  // The escaped actor's outputs go to a stream that takes messages of at most 8 KB.
  await jsm.streams.add({ name: "small", subjects: ["k.esc.>"], max_msg_size: 8 * 1024 });
  await ensureAppStreams(jsm, await loadApp(APP));
  await publishAll(c.js, [
    { subject: "k.in", value: { k: "fits", pad: 10 } },
    { subject: "k.in", value: { k: "big", pad: 20_000 } },
    { subject: "k.in", value: { k: "huge", pad: 2_000_000 } },
    { subject: "k.in", value: { k: "fits", pad: 20 } },
  ]);
  const rt = await startRuntime({ app: APP, nats: nats.url, workers: 1, logLevel: "error" });
  await rt.drained();
  await rt.stop();
  const small = await readStream(c.nc, "small");
  expect(small.map((m) => [m.subject, (m.value as { n: number }).n])).toEqual([
    ["k.esc.fits", 1],
    ["k.esc.fits", 2],
  ]);
  const dlq = (await readStream(c.nc, appNames("keys").dlq)).filter((m) => m.headers[DLQ_HEADERS.actor] === "escaped");
  const byKey = new Map(dlq.map((m) => [m.headers[DLQ_HEADERS.key], m]));
  expect(byKey.get("huge")!.headers[DLQ_HEADERS.error]).toBe("OutputTooLargeError");
  expect(byKey.get("huge")!.value).toEqual({ k: "huge", pad: 2_000_000 });
  const big = byKey.get("big")!;
  expect(big.headers[DLQ_HEADERS.error]).toBe("OutputRejectedError");
  expect(big.headers[DLQ_HEADERS.output]).toBe("k.esc.big");
  expect(big.headers[DLQ_HEADERS.reason]).toContain("message size exceeds maximum allowed");
  expect((big.value as { subject: string; value: { n: number } }).value.n).toBe(1);
  const store = await kvSnapshotStore(c.nc, { bucket: appNames("keys").bucket });
  expect((await store.loadActor("escaped", "huge"))?.state).toBeUndefined();
  expect((await store.loadActor("escaped", "big"))?.state).toEqual({ n: 1 });
  // A redrive would apply "big" twice: it skips the refused output.
  const r = await weirCli("dlq", "redrive", "keys", "--nats", nats.url, "--error", "OutputRejectedError");
  expect(r.out).toContain("0 redriven");
});
