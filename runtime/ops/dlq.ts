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

/**
 * Reads an app's dead letters (stream `weir_<app>_dlq`, or `weir_<app>__<ns>_dlq`), oldest first, filtered.
 *
 * @example
 * for (const d of await readDeadLetters(nc, "ledger", { error: "HandlerError" })) console.log(d.seq);
 */
export async function readDeadLetters(nc: NatsConnection, app: string, f: DeadLetterFilter = {}): Promise<DeadLetter[]> {
  const stream = appNames(app, f.namespace).dlq;
  const jsm = await jetstreamManager(nc);
  const total = (await jsm.streams.info(stream)).state;
  const out: DeadLetter[] = [];
  if (total.messages === 0) return out;
  const c = await jetstream(nc).consumers.get(stream, f.since ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(f.since).toISOString() } : {});
  const iter = await c.fetch({ max_messages: total.messages, expires: 2_000 });
  for await (const m of iter) {
    const time = Math.floor(m.info.timestampNanos / 1e6);
    const headers: Record<string, string> = {};
    for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
    const keep =
      (f.until === undefined || time <= f.until) &&
      (f.error === undefined || headers[DLQ_HEADERS.error] === f.error) &&
      (f.subject === undefined || subjectMatches(f.subject, headers[DLQ_HEADERS.subject] ?? ""));
    if (keep) out.push({ seq: m.seq, time, headers, data: m.data });
    if (m.info.pending === 0) break;
  }
  return out;
}

/** A reason with its varying details (numbers, quoted values) blanked, so alike failures group. */
export function reasonShape(reason: string): string {
  return reason.replace(/"[^"]*"/g, '"…"').replace(/'[^']*'/g, "'…'").replace(/\d+(\.\d+)?/g, "#").slice(0, 120);
}

/** Counts by error class + reason shape, and by source subject. */
export function deadLetterStats(letters: readonly DeadLetter[]) {
  const byReason = new Map<string, number>();
  const bySubject = new Map<string, number>();
  for (const d of letters) {
    const r = `${d.headers[DLQ_HEADERS.error] ?? "?"}  ${reasonShape(d.headers[DLQ_HEADERS.reason] ?? "")}`;
    byReason.set(r, (byReason.get(r) ?? 0) + 1);
    const s = d.headers[DLQ_HEADERS.subject] || "(timer)";
    bySubject.set(s, (bySubject.get(s) ?? 0) + 1);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return { total: letters.length, byReason: sorted(byReason), bySubject: sorted(bySubject) };
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
