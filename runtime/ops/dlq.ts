import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type NatsConnection } from "@nats-io/nats-core";
import { Kvm } from "@nats-io/kv";
import { CONTENT_TYPE_HEADER, decodePayload } from "../route/mod.ts";
import { DLQ_HEADERS } from "../output/mod.ts";
import { appNames } from "../nats/mod.ts";
import { subjectMatches } from "../contract/mod.ts";

/** One dead letter as stored: where it came from, why, and its original bytes. */
export interface DeadLetter {
  seq: number;
  time: number;
  headers: Record<string, string>;
  data: Uint8Array;
}

export interface DeadLetterFilter {
  since?: number;
  until?: number;
  /** Error class (`Weir-Error`), e.g. HandlerError. */
  error?: string;
  /** Source subject pattern (wildcards allowed). */
  subject?: string;
  /** The dead letters of this replay namespace instead of the live app's. */
  namespace?: string;
}

/** How a scan of the dead letters went: how many messages of the stream it read, and how many it passed on. */
export interface DeadLetterScan {
  stream: string;
  /** Messages read (those at or after `since`, up to the stream's end when the scan began). */
  read: number;
  /** Of them, those that passed the filter. */
  matched: number;
}

/**
 * Reads an app's dead letters (stream `weir_<app>_dlq`, or `weir_<app>__<ns>_dlq`), oldest first,
 * every one from `since` (or the first) up to the stream's last as the scan begins, and hands those
 * that pass the filter to `visit` (which may return false to stop). One ordered consumer reads the
 * whole range, however large: nothing is left out after a first batch.
 *
 * @example
 * const scan = await scanDeadLetters(nc, "ledger", {}, (d) => void count++, { onProgress: (n, of) => show(n, of) });
 */
export async function scanDeadLetters(
  nc: NatsConnection,
  app: string,
  f: DeadLetterFilter,
  visit: (d: DeadLetter) => boolean | void,
  opts: { onProgress?: (read: number, of: number) => void } = {},
): Promise<DeadLetterScan> {
  const stream = appNames(app, f.namespace).dlq;
  const jsm = await jetstreamManager(nc);
  const { last_seq: last, messages } = (await jsm.streams.info(stream)).state;
  const scan: DeadLetterScan = { stream, read: 0, matched: 0 };
  if (messages === 0) return scan;
  const c = await jetstream(nc).consumers.get(stream, f.since ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(f.since).toISOString() } : {});
  // How many there are to read: what the consumer has pending as it starts (none after `since`: done).
  const total = (await c.info()).num_pending;
  if (total === 0) return scan;
  const iter = await c.consume({ max_messages: 1_000 });
  let lastShown = 0;
  try {
    for await (const m of iter) {
      scan.read++;
      const time = Math.floor(m.info.timestampNanos / 1e6);
      const headers: Record<string, string> = {};
      for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
      const keep =
        (f.until === undefined || time <= f.until) &&
        (f.error === undefined || headers[DLQ_HEADERS.error] === f.error) &&
        (f.subject === undefined || subjectMatches(f.subject, headers[DLQ_HEADERS.subject] ?? ""));
      if (keep) {
        scan.matched++;
        if (visit({ seq: m.seq, time, headers, data: m.data }) === false) break;
      }
      if (opts.onProgress && scan.read - lastShown >= 1_000) {
        lastShown = scan.read;
        opts.onProgress(scan.read, total);
      }
      // The end of the stream as the scan began (what came after is for the next scan).
      if (m.seq >= last || scan.read >= total) break;
    }
  } finally {
    iter.stop();
  }
  opts.onProgress?.(scan.read, total);
  return scan;
}

/**
 * Reads an app's dead letters that pass the filter, all of them (see {@link scanDeadLetters}).
 *
 * @example
 * for (const d of await readDeadLetters(nc, "ledger", { error: "HandlerError" })) console.log(d.seq);
 */
export async function readDeadLetters(nc: NatsConnection, app: string, f: DeadLetterFilter = {}): Promise<DeadLetter[]> {
  const out: DeadLetter[] = [];
  await scanDeadLetters(nc, app, f, (d) => void out.push(d));
  return out;
}

/** A reason with its varying details (numbers, quoted values) blanked, so alike failures group. */
export function reasonShape(reason: string): string {
  return reason.replace(/"[^"]*"/g, '"…"').replace(/'[^']*'/g, "'…'").replace(/\d+(\.\d+)?/g, "#").slice(0, 120);
}

/** Counts by error class + reason shape, and by source subject, gathered one dead letter at a time. */
export function deadLetterCounter() {
  const byReason = new Map<string, number>();
  const bySubject = new Map<string, number>();
  let total = 0;
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return {
    add(d: DeadLetter) {
      total++;
      const r = `${d.headers[DLQ_HEADERS.error] ?? "?"}  ${reasonShape(d.headers[DLQ_HEADERS.reason] ?? "")}`;
      byReason.set(r, (byReason.get(r) ?? 0) + 1);
      const s = d.headers[DLQ_HEADERS.subject] || "(timer)";
      bySubject.set(s, (bySubject.get(s) ?? 0) + 1);
    },
    result: () => ({ total, byReason: sorted(byReason), bySubject: sorted(bySubject) }),
  };
}

/** Counts by error class + reason shape, and by source subject. */
export function deadLetterStats(letters: readonly DeadLetter[]) {
  const counter = deadLetterCounter();
  for (const d of letters) counter.add(d);
  return counter.result();
}

/** The payload decoded for display (JSON text when it decodes, else a note with its size). */
export function describePayload(d: DeadLetter): string {
  try {
    return JSON.stringify(decodePayload(d.data, d.headers[CONTENT_TYPE_HEADER]));
  } catch (err) {
    return `(${d.data.length} bytes, not decodable: ${(err as Error).message})`;
  }
}

/**
 * Republishes dead letters to their original subjects, each at most once: a KV marker per dead
 * letter (`weir_<app>_redrive`, created atomically) records it, and the publish carries the
 * message id `redrive.<app>.<dlq seq>` so a repeat inside the stream's dedup window is dropped.
 */
export async function redrive(nc: NatsConnection, app: string, letters: readonly DeadLetter[]): Promise<{ redriven: number; already: number; skipped: number }> {
  const kv = await new Kvm(nc).create(appNames(app).redrive, { history: 1 });
  const js = jetstream(nc);
  let redriven = 0;
  let already = 0;
  let skipped = 0;
  for (const d of letters) {
    const subject = d.headers[DLQ_HEADERS.subject];
    if (!subject || d.headers[DLQ_HEADERS.table] || d.headers[DLQ_HEADERS.output]) {
      skipped++; // a failed timer has no message to send again; a refused row or output is not an event
      continue;
    }
    if (await kv.get(String(d.seq)).then((e) => e?.operation === "PUT")) {
      already++;
      continue;
    }
    const h = natsHeaders();
    const type = d.headers[CONTENT_TYPE_HEADER];
    if (type) h.set(CONTENT_TYPE_HEADER, type);
    await js.publish(subject, d.data, { headers: h, msgID: `redrive.${app}.${d.seq}` });
    try {
      await kv.create(String(d.seq), new TextEncoder().encode(String(Date.now())));
      redriven++;
    } catch {
      already++; // another redrive got there first; its publish was deduplicated by the id
    }
  }
  return { redriven, already, skipped };
}
