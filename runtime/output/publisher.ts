import { createInbox, headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import { CONTENT_TYPE_HEADER } from "../contract/codec.ts";
import { PublishError, RefusedMessageError, type WeirError } from "../contract/errors.ts";

export interface PublishOptions {
  /** Deterministic id: the server drops a second message with the same id within its dedup window. */
  msgID?: string;
  headers?: Record<string, string>;
}

/** Durable publishing: resolves once the server has stored the message (or recognised a duplicate). */
export interface Publisher {
  publish(subject: string, data: Uint8Array, opts: PublishOptions): Promise<void>;
  /** Largest message (headers and data) the server takes, in bytes. */
  readonly maxPayload: number;
}

export interface PipelinedPublisherOptions {
  /** Resend a message whose ack has not come back after this long, ms. Default 5000. */
  timeoutMs?: number;
  /** Resends before giving up (the message id makes resends safe). Default 5. */
  retries?: number;
}

interface InFlight {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
  sentAt: number;
  attempts: number;
}

/**
 * A JetStream publisher that pipelines: every message goes out at once with its own reply subject
 * under one wildcard inbox subscription, and acks are matched as they come back. No per-message
 * request or timer as in `js.publish`, which makes it ~1.5x faster for many small outputs. A message
 * whose ack is late is sent again; with a `Nats-Msg-Id` the server stores it once.
 *
 * @example
 * const pub = pipelinedPublisher(nc);
 * await pub.publish("totals.u1", bytes, { msgID: "app.actor.3.1042.0" });
 */
export function pipelinedPublisher(nc: NatsConnection, opts: PipelinedPublisherOptions = {}): Publisher & { close(): void } {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const retries = opts.retries ?? 5;
  const prefix = createInbox();
  const inFlight = new Map<number, InFlight>();
  const dec = new TextDecoder();
  let next = 0;

  const send = (id: number, f: InFlight) => {
    f.sentAt = Date.now();
    f.attempts++;
    nc.publish(f.subject, f.data, f.headers ? { reply: `${prefix}.${id}`, headers: f.headers } : { reply: `${prefix}.${id}` });
  };

  const sub = nc.subscribe(`${prefix}.*`, {
    callback: (err, m) => {
      if (err) return;
      const id = Number(m.subject.slice(prefix.length + 1));
      const f = inFlight.get(id);
      if (!f) return; // the ack of an earlier attempt of a message already settled
      inFlight.delete(id);
      if (m.data.length === 0 && m.headers && m.headers.code >= 300) {
        f.reject(
          new PublishError(
            m.headers.code === 503
              ? `no JetStream stream stores subject "${f.subject}"`
              : `JetStream refused "${f.subject}": ${m.headers.code} ${m.headers.description}`,
          ),
        );
        return;
      }
      const body = dec.decode(m.data);
      if (!body.includes('"error"')) {
        f.resolve();
        return;
      }
      let error: { description?: string; err_code?: number } | undefined;
      try {
        error = (JSON.parse(body) as { error?: typeof error }).error;
      } catch {
        /* keep the raw body */
      }
      const message = `JetStream refused "${f.subject}": ${error?.description ?? body}`;
      // 10054: larger than the stream's max message size, a fault of this message alone.
      f.reject(error?.err_code === 10054 ? new RefusedMessageError(message) : new PublishError(message));
    },
  });

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, f] of inFlight) {
      if (now - f.sentAt < timeoutMs) continue;
      if (f.attempts > retries) {
        inFlight.delete(id);
        f.reject(new PublishError(`no ack from JetStream for "${f.subject}" after ${f.attempts} attempts`));
      } else {
        send(id, f);
      }
    }
  }, Math.max(100, Math.floor(timeoutMs / 4)));
  // Pending publishes keep their callers waiting; the sweep alone must not keep a process alive.
  sweep.unref?.();

  return {
    get maxPayload() {
      return nc.info?.max_payload ?? 1024 * 1024;
    },
    publish(subject, data, po) {
      return new Promise<void>((resolve, reject) => {
        const id = next++;
        try {
          // nats.js throws at once for what it cannot send (a bad subject or header): that message's failure.
          let headers: MsgHdrs | undefined;
          if (po.msgID || po.headers) {
            headers = natsHeaders();
            if (po.msgID) headers.set("Nats-Msg-Id", po.msgID);
            for (const [k, v] of Object.entries(po.headers ?? {})) headers.set(k, v);
          }
          const f: InFlight = { subject, data, headers, resolve, reject, sentAt: 0, attempts: 0 };
          inFlight.set(id, f);
          send(id, f);
        } catch (err) {
          inFlight.delete(id);
          reject(err as Error);
        }
      });
    },
    close() {
      clearInterval(sweep);
      sub.unsubscribe();
      for (const f of inFlight.values()) f.reject(new PublishError("publisher closed"));
      inFlight.clear();
    },
  };
}

/** Headers on a dead-lettered message: why, and where it came from. */
export const DLQ_HEADERS = {
  reason: "Weir-Reason",
  error: "Weir-Error",
  app: "Weir-App",
  actor: "Weir-Actor",
  subject: "Weir-Source-Subject",
  seq: "Weir-Source-Seq",
  key: "Weir-Key",
  /** On a row the database refused: its table (the payload is `{ table, row }`, not the event). */
  table: "Weir-Table",
  /** On an output the broker refused: its subject (the payload is `{ subject, value }`, not the event). */
  output: "Weir-Output-Subject",
} as const;

export interface DlqOrigin {
  app: string;
  actor?: string;
  subject: string;
  seq: number;
  key?: string;
  contentType?: string;
}

/** Message id of a dead letter: one per (app, actor, input sequence), so a replay stores it once. */
export function dlqMsgId(app: string, actor: string | undefined, seq: number): string {
  return `${app}.dlq.${actor ?? "-"}.${seq}`;
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

export function dlqHeaders(err: WeirError, origin: DlqOrigin): Record<string, string> {
  const h: Record<string, string> = {
    // Reasons read as one line of prose.
    [DLQ_HEADERS.reason]: headerValue(err.message.replace(/[\r\n]+/g, " ")),
    [DLQ_HEADERS.error]: err.name,
    [DLQ_HEADERS.app]: origin.app,
    [DLQ_HEADERS.subject]: origin.subject,
    [DLQ_HEADERS.seq]: String(origin.seq),
  };
  if (origin.actor) h[DLQ_HEADERS.actor] = origin.actor;
  if (origin.key !== undefined) h[DLQ_HEADERS.key] = headerValue(origin.key, 1024);
  if (origin.contentType) h[CONTENT_TYPE_HEADER] = origin.contentType;
  return h;
}
