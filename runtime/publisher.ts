import { headers as natsHeaders } from "@nats-io/nats-core";
import type { JetStreamClient } from "@nats-io/jetstream";
import { CONTENT_TYPE_HEADER } from "./codec.ts";
import type { WeirError } from "./errors.ts";

export interface PublishOptions {
  /** Deterministic id: the server drops a second message with the same id within its dedup window. */
  msgID: string;
  headers?: Record<string, string>;
}

/** Durable publishing: resolves once the server has stored the message (or recognised a duplicate). */
export interface Publisher {
  publish(subject: string, data: Uint8Array, opts: PublishOptions): Promise<void>;
}

/**
 * Publisher on a JetStream client. Payloads are msgpack; like inputs, messages without a
 * Content-Type header are msgpack, so outputs carry only the headers they are given.
 *
 * @example
 * const pub = jetStreamPublisher(jetstream(nc));
 * await pub.publish("totals.u1", bytes, { msgID: "app.actor.3.1042.0" });
 */
export function jetStreamPublisher(js: JetStreamClient): Publisher {
  return {
    async publish(subject, data, opts) {
      if (!opts.headers) {
        await js.publish(subject, data, { msgID: opts.msgID });
        return;
      }
      const h = natsHeaders();
      for (const [k, v] of Object.entries(opts.headers)) h.set(k, v);
      await js.publish(subject, data, { msgID: opts.msgID, headers: h });
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
} as const;

export interface DlqOrigin {
  app: string;
  actor?: string;
  subject: string;
  seq: number;
  key?: string;
  contentType?: string;
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
