import { createInbox, headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import { CONTENT_TYPE_HEADER } from "./codec.ts";
import { PublishError, type WeirError } from "./errors.ts";

export interface PublishOptions {
  /** Deterministic id: the server drops a second message with the same id within its dedup window. */
  msgID?: string;
  headers?: Record<string, string>;
}

/** Durable publishing: resolves once the server has stored the message (or recognised a duplicate). */
export interface Publisher {
  publish(subject: string, data: Uint8Array, opts: PublishOptions): Promise<void>;
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
      let description = body;
      try {
        description = (JSON.parse(body) as { error?: { description?: string } }).error?.description ?? body;
      } catch {
        /* keep the raw body */
      }
      f.reject(new PublishError(`JetStream refused "${f.subject}": ${description}`));
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
    publish(subject, data, po) {
      let headers: MsgHdrs | undefined;
      if (po.msgID || po.headers) {
        headers = natsHeaders();
        if (po.msgID) headers.set("Nats-Msg-Id", po.msgID);
        for (const [k, v] of Object.entries(po.headers ?? {})) headers.set(k, v);
      }
      return new Promise<void>((resolve, reject) => {
        const id = next++;
        const f: InFlight = { subject, data, headers, resolve, reject, sentAt: 0, attempts: 0 };
        inFlight.set(id, f);
        try {
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

export function dlqHeaders(err: WeirError, origin: DlqOrigin): Record<string, string> {
  const h: Record<string, string> = {
    // Header values are single-line.
    [DLQ_HEADERS.reason]: err.message.replace(/[\r\n]+/g, " ").slice(0, 4000),
    [DLQ_HEADERS.error]: err.name,
    [DLQ_HEADERS.app]: origin.app,
    [DLQ_HEADERS.subject]: origin.subject,
    [DLQ_HEADERS.seq]: String(origin.seq),
  };
  if (origin.actor) h[DLQ_HEADERS.actor] = origin.actor;
  if (origin.key !== undefined) h[DLQ_HEADERS.key] = origin.key;
  if (origin.contentType) h[CONTENT_TYPE_HEADER] = origin.contentType;
  return h;
}
