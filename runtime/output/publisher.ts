import { createInbox, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import { subjectBytes } from "../nats/mod.ts";
import { DEFAULTS, every, PublishError, RefusedMessageError, systemScheduler, type Scheduler } from "../contract/mod.ts";

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
  /** Resend a message whose ack has not come back after this long, ms. Default `DEFAULTS.publishTimeoutMs`. */
  timeoutMs?: number;
  /** Resends before giving up (the message id makes resends safe). Default `DEFAULTS.publishResends`. */
  retries?: number;
  scheduler?: Scheduler;
}

interface InFlight {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
  sentAt: number;
  attempts: number;
  /** When the first "no responders" came back (0: none): a stream leader moving, or no stream at all. */
  noStreamSince: number;
}

const ERROR_KEY = new TextEncoder().encode('"error":');

/** An ack's JSON has an `"error"` key (read on the bytes: acks come back one per message). */
function hasErrorKey(body: Uint8Array): boolean {
  outer: for (let i = 0; i + ERROR_KEY.length <= body.length; i++) {
    for (let j = 0; j < ERROR_KEY.length; j++) if (body[i + j] !== ERROR_KEY[j]) continue outer;
    return true;
  }
  return false;
}

/** The number at the end of an ack's subject, `<inbox>.<n>`, from `at` on (read on its bytes where the client keeps them). */
function replyId(m: Msg, at: number): number {
  const raw = subjectBytes(m, "subject");
  if (typeof raw !== "object") return Number(m.subject.slice(at));
  let n = 0;
  for (let i = at; i < raw.length; i++) {
    const c = raw[i]!;
    if (c < 48 || c > 57) return Number.NaN;
    n = n * 10 + (c - 48);
  }
  return raw.length > at ? n : Number.NaN;
}

/**
 * A JetStream publisher that pipelines: every message goes out at once with its own reply subject
 * under one wildcard inbox subscription, and acks are matched as they come back. No per-message
 * request or timer as in `js.publish`, which makes it ~1.5x faster for many small outputs. A message
 * whose ack is late is sent again; with a `Nats-Msg-Id` the server stores it once. "No responders"
 * (no stream answered: on a cluster, a leader moving) is sent again for up to twice the ack
 * timeout before it fails as a subject no stream stores.
 *
 * @example
 * const pub = pipelinedPublisher(nc);
 * await pub.publish("totals.u1", bytes, { msgID: "app.actor.3.1042.0" });
 */
export function pipelinedPublisher(nc: NatsConnection, opts: PipelinedPublisherOptions = {}): Publisher & { close(): void } {
  const timeoutMs = opts.timeoutMs ?? DEFAULTS.publishTimeoutMs;
  const retries = opts.retries ?? DEFAULTS.publishResends;
  const scheduler = opts.scheduler ?? systemScheduler;
  const prefix = createInbox();
  const inFlight = new Map<number, InFlight>();
  const dec = new TextDecoder();
  let next = 0;

  const send = (id: number, f: InFlight) => {
    f.sentAt = scheduler.now();
    f.attempts++;
    nc.publish(f.subject, f.data, f.headers ? { reply: `${prefix}.${id}`, headers: f.headers } : { reply: `${prefix}.${id}` });
  };

  const sub = nc.subscribe(`${prefix}.*`, {
    callback: (err, m) => {
      if (err) return;
      const id = replyId(m, prefix.length + 1);
      const f = inFlight.get(id);
      if (!f) return; // the ack of an earlier attempt of a message already settled
      if (m.data.length === 0 && m.headers && m.headers.code === 503) {
        // No stream answered: on a cluster, the stream's leader is moving (a node restarting) and
        // one answers again within seconds. Sent again shortly, for up to twice the ack timeout.
        const now = scheduler.now();
        f.noStreamSince ||= now;
        if (now - f.noStreamSince < 2 * timeoutMs) {
          // The sweep sends it again from a quarter of a second on; these are not failed attempts.
          f.sentAt = now - timeoutMs + Math.min(250, timeoutMs / 2);
          f.attempts = 0;
          return;
        }
        inFlight.delete(id);
        f.reject(new PublishError(`no JetStream stream stores subject "${f.subject}"`));
        return;
      }
      inFlight.delete(id);
      if (m.data.length === 0 && m.headers && m.headers.code >= 300) {
        f.reject(new PublishError(`JetStream refused "${f.subject}": ${m.headers.code} ${m.headers.description}`));
        return;
      }
      if (!hasErrorKey(m.data)) {
        f.resolve();
        return;
      }
      const body = dec.decode(m.data);
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

  // Pending publishes keep their callers waiting; the sweep alone does not keep a process alive.
  const stopSweep = every(scheduler, Math.max(100, Math.floor(timeoutMs / 4)), () => {
    const now = scheduler.now();
    for (const [id, f] of inFlight) {
      if (now - f.sentAt < timeoutMs) continue;
      if (f.attempts > retries) {
        inFlight.delete(id);
        f.reject(new PublishError(`no ack from JetStream for "${f.subject}" after ${f.attempts} attempts`));
      } else {
        send(id, f);
      }
    }
  });

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
          const f: InFlight = { subject, data, headers, resolve, reject, sentAt: 0, attempts: 0, noStreamSince: 0 };
          inFlight.set(id, f);
          send(id, f);
        } catch (err) {
          inFlight.delete(id);
          reject(err as Error);
        }
      });
    },
    close() {
      stopSweep();
      sub.unsubscribe();
      for (const f of inFlight.values()) f.reject(new PublishError("publisher closed"));
      inFlight.clear();
    },
  };
}
