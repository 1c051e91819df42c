import type { Row, Timer, WeirError } from "../contract/mod.ts";
import { CONTENT_TYPE_HEADER, msgpackCodec, TRACE_HEADER } from "../route/mod.ts";
import type { Publisher } from "./publisher.ts";

/** Headers on a dead-lettered message: why, and where it came from. */
export const DLQ_HEADERS = {
  reason: "Weir-Reason",
  error: "Weir-Error",
  app: "Weir-App",
  actor: "Weir-Actor",
  subject: "Weir-Source-Subject",
  seq: "Weir-Source-Seq",
  /** The partition whose input stream `Weir-Source-Seq` is a sequence of (absent: the app's input stream). */
  partition: "Weir-Source-Partition",
  key: "Weir-Key",
  /** On a row the database refused: its table (the payload is `{ table, row }`, not the event). */
  table: "Weir-Table",
  /** On an output the broker refused: its subject (the payload is `{ subject, value }`, not the event). */
  output: "Weir-Output-Subject",
} as const;

/** Where a dead letter's message came from. */
export interface DlqOrigin {
  actor?: string;
  subject: string;
  seq: number;
  /** The partition whose input stream `seq` is of (absent: the app's input stream). */
  partition?: number;
  key?: string;
  contentType?: string;
  /** The W3C trace context (`traceparent`) of the event it is about. */
  trace?: string;
}

/** Message id of a dead letter: one per (app, actor, input position), so a replay stores it once. */
export function dlqMsgId(app: string, actor: string | undefined, seq: number, partition?: number): string {
  return partition === undefined ? `${app}.dlq.${actor ?? "-"}.${seq}` : `${app}.dlq.${actor ?? "-"}.${partition}.${seq}`;
}

/**
 * A header value is one line of text (nats.js refuses CR and LF, and a key may hold anything):
 * control characters are written as escapes, the length is bounded.
 */
export function headerValue(s: string, max = 4000): string {
  const line = /[\x00-\x1f\x7f]/.test(s)
    ? s.replace(/[\x00-\x1f\x7f]/g, (c) => (c === "\r" ? "\\r" : c === "\n" ? "\\n" : c === "\t" ? "\\t" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`))
    : s;
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** The headers of a dead letter: the reason and error class, the app, and the origin. */
export function dlqHeaders(err: WeirError, app: string, origin: DlqOrigin): Record<string, string> {
  const h: Record<string, string> = {
    // Reasons read as one line of prose.
    [DLQ_HEADERS.reason]: headerValue(err.message.replace(/[\r\n]+/g, " ")),
    [DLQ_HEADERS.error]: err.name,
    [DLQ_HEADERS.app]: app,
    [DLQ_HEADERS.subject]: origin.subject,
    [DLQ_HEADERS.seq]: String(origin.seq),
  };
  if (origin.partition !== undefined) h[DLQ_HEADERS.partition] = String(origin.partition);
  if (origin.actor) h[DLQ_HEADERS.actor] = origin.actor;
  if (origin.key !== undefined) h[DLQ_HEADERS.key] = headerValue(origin.key, 1024);
  if (origin.contentType) h[CONTENT_TYPE_HEADER] = origin.contentType;
  if (origin.trace) h[TRACE_HEADER] = origin.trace;
  return h;
}

/** One app's dead letters: where they go. */
export interface DeadLetterTarget {
  app: string;
  /** The dead-letter subject (`weir.dlq.<app>`, or a replay namespace's). */
  subject: string;
  publisher: Publisher;
  /** Told the error class of each dead letter once it is stored (for the metrics). */
  stored?: (errorClass: string) => void;
}

/** The input event (or timer) a dead letter is about. */
export interface DeadEvent {
  actor: string;
  /** The input message's subject (empty for a timer). */
  subject: string;
  seq: number;
  partition: number;
  key: string;
  /** Its W3C trace context, when it had one. */
  trace?: string;
}

/**
 * Builds and sends every kind of dead letter, each with a deterministic message id (a replay after
 * a crash stores it once) and the same headers. Each resolves once the dead letter is stored.
 *
 * @example
 * const dlq = deadLetters({ app: "ledger", subject: "weir.dlq.ledger", publisher });
 * await dlq.event({ actor: "ledger", subject, seq, key }, value, err);
 */
export function deadLetters(t: DeadLetterTarget) {
  const send = async (err: WeirError, origin: DlqOrigin, data: Uint8Array, msgID: string, extra?: Record<string, string>) => {
    await t.publisher.publish(t.subject, data, { msgID, headers: { ...dlqHeaders(err, t.app, origin), ...extra } });
    t.stored?.(err.name);
  };
  const contentType = msgpackCodec.contentType;
  return {
    /** A message that reached no actor (undecodable, key-less, against its schema): its original bytes and content type. */
    message: (msg: { subject: string; seq: number; partition?: number; data: Uint8Array; contentType?: string; trace?: string }, err: WeirError, actor?: string) =>
      send(
        err,
        {
          ...(actor ? { actor } : {}),
          subject: msg.subject,
          seq: msg.seq,
          ...(msg.partition !== undefined ? { partition: msg.partition } : {}),
          ...(msg.contentType ? { contentType: msg.contentType } : {}),
          ...(msg.trace ? { trace: msg.trace } : {}),
        },
        msg.data,
        dlqMsgId(t.app, actor, msg.seq, msg.partition),
      ),
    /** An event an actor could not apply: the decoded event, as msgpack. */
    event: (ev: DeadEvent, value: unknown, err: WeirError) =>
      send(err, { ...ev, contentType }, msgpackCodec.encode(value), dlqMsgId(t.app, ev.actor, ev.seq, ev.partition)),
    /** A timer whose `onTimer` failed (payload `{ timer }`); `id` is the timer's own output id base. */
    timer: (ev: DeadEvent, timer: Timer, id: string, err: WeirError) =>
      send(err, { ...ev, contentType }, msgpackCodec.encode({ timer }), `${id}.dlq`),
    /** A row the database refused (payload `{ table, row }`). */
    row: (ev: DeadEvent, table: string, row: Row, err: WeirError) =>
      send(err, { ...ev, contentType }, msgpackCodec.encode({ table, row }), `${dlqMsgId(t.app, ev.actor, ev.seq, ev.partition)}.${table}`, {
        [DLQ_HEADERS.table]: table,
      }),
    /** An output the broker refused (payload `{ subject, value }`); `msgID` is the output's own. */
    output: (ev: DeadEvent, subject: string, value: unknown, msgID: string, err: WeirError) =>
      send(err, { ...ev, contentType }, msgpackCodec.encode({ subject, value }), `${msgID}.dlq`, { [DLQ_HEADERS.output]: subject }),
  };
}

export type DeadLetters = ReturnType<typeof deadLetters>;
