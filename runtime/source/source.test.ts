import { describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { DEFAULTS, type SourceMsg } from "../contract/mod.ts";
import { startNats } from "../nats/mod.ts";
import { client, waitFor } from "../testing/mod.ts";
import { createCredit } from "./credit.ts";
import { ackReader, pullSource } from "./source.ts";

describe("ack subjects", () => {
  const read = ackReader("weir_a_in_3", "weir_src_X1");
  test("the common form and the form with a domain and account hash", () => {
    expect(read("$JS.ACK.weir_a_in_3.weir_src_X1.1.42.7.1700000000000000000.12")).toEqual({ seq: 42, dseq: 7, ns: 1.7e18, pending: 12 });
    expect(read("$JS.ACK.hub.ACCHASH.weir_a_in_3.weir_src_X1.1.42.7.1700000000000000000.0.tok")).toEqual({ seq: 42, dseq: 7, ns: 1.7e18, pending: 0 });
  });
  test("read from the subject's bytes as from the string", () => {
    const bytes = (s: string) => new TextEncoder().encode(s);
    expect(read(bytes("$JS.ACK.weir_a_in_3.weir_src_X1.1.42.7.1700000000000000000.12"))).toEqual({ seq: 42, dseq: 7, ns: 1.7e18, pending: 12 });
    expect(read(bytes("$JS.ACK.hub.ACCHASH.weir_a_in_3.weir_src_X1.1.42.7.1700000000000000000.0.tok"))).toEqual({ seq: 42, dseq: 7, ns: 1.7e18, pending: 0 });
    expect(read(bytes("$JS.ACK.weir_a_in_3.weir_src_X2.1.42.7.1700000000000000000.12"))).toBeUndefined();
    expect(read(bytes("$JS.ACK.weir_a_in_3.weir_src_X1."))).toBeUndefined();
    expect(read(new Uint8Array(0))).toBeUndefined();
  });
  test("another consumer's, or not an ack subject: not read", () => {
    expect(read("$JS.ACK.weir_a_in_3.weir_src_X2.1.42.7.1700000000000000000.12")).toBeUndefined();
    expect(read("$JS.ACK.weir_a_in_3.weir_src_X1.1.42.7")).toBeUndefined();
    expect(read("$JS.ACK.weir_a_in_3.weir_src_X1.1.4x.7.1.2")).toBeUndefined();
    expect(read("_INBOX.abc.1")).toBeUndefined();
    expect(read(undefined)).toBeUndefined();
  });
});

/** Reads `stream` from `startSeq` with a small credit, releasing each chunk at once; `during` runs after the first chunk. */
async function readAll(
  nc: Parameters<typeof pullSource>[0],
  stream: string,
  opts: { startSeq?: number; stopSeq?: number; until: number; during?: () => Promise<void>; then?: (seqs: number[], retries: string[]) => Promise<void> },
) {
  const seqs: number[] = [];
  const retries: string[] = [];
  const credit = createCredit(200);
  let first = true;
  let completed = false;
  let failed: unknown;
  const sub = pullSource(nc, { stream, startSeq: opts.startSeq ?? 1, credit, maxFetch: 100, expiresMs: 500, onRetry: (err) => retries.push(String(err)), ...(opts.stopSeq ? { stopSeq: opts.stopSeq } : {}) }).subscribe({
    next: async (msgs: SourceMsg[]) => {
      for (const m of msgs) seqs.push(m.seq);
      if (first && opts.during) {
        first = false;
        await opts.during();
      }
      credit.release(msgs.length);
    },
    complete: () => (completed = true),
    error: (err) => (failed = err),
  });
  await waitFor(() => failed !== undefined || completed || seqs.length >= opts.until, 30_000, `${opts.until} messages read`);
  await opts.then?.(seqs, retries);
  sub.unsubscribe();
  if (failed) throw failed;
  return { seqs, completed, retries };
}

test("every message once, in order, through a consumer deleted under the source and a bounded range", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const jsm = await jetstreamManager(c.nc);
  await jsm.streams.add({ name: "src", subjects: ["src.>"] });
  // Not a multiple of the pull size: the last pull expires part-filled.
  const N = 3_050;
  const publish = async (from: number, to: number) => {
    for (let i = from; i <= to; i++) c.nc.publish(`src.k${i % 17}`, new TextEncoder().encode(String(i)));
    await c.nc.flush();
    await waitFor(async () => (await jsm.streams.info("src")).state.messages === to, 10_000, "the stream filled");
  };
  await publish(1, N);

  // Its consumer deleted after the first chunk: the source makes another from its own position.
  const deleteConsumers = async () => {
    for await (const ci of jsm.consumers.list("src")) await jsm.consumers.delete("src", ci.name);
  };
  // Then idle past the time a silent pull is given: the source follows what comes next without
  // taking an idle stream for a lost consumer.
  let retriedWhileIdle: string[] = [];
  const idleThenMore = async (seqs: number[], retries: string[]) => {
    const before = retries.length;
    await Bun.sleep(500 + DEFAULTS.pullStallGraceMs + 1_000);
    await publish(N + 1, N + 10);
    await waitFor(() => seqs.length >= N + 10, 10_000, "the messages published after the pause");
    retriedWhileIdle = retries.slice(before);
  };
  const all = await readAll(c.nc, "src", { until: N, during: deleteConsumers, then: idleThenMore });
  expect(all.seqs).toEqual(Array.from({ length: N + 10 }, (_, i) => i + 1));
  expect(retriedWhileIdle).toEqual([]);

  // A bounded read (a replay's range) completes at its last sequence.
  const range = await readAll(c.nc, "src", { startSeq: 1001, stopSeq: 1500, until: 500 });
  expect(range.completed).toBe(true);
  expect(range.seqs).toEqual(Array.from({ length: 500 }, (_, i) => i + 1001));

  // The source leaves no consumer behind.
  await waitFor(async () => (await jsm.streams.info("src")).state.consumer_count === 0, 10_000, "the consumers removed");
});
