import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { CONTENT_TYPE_HEADER, jsonCodec, msgpackCodec } from "./codec.ts";

export interface ProduceOptions {
  /** Id for server-side dedup of retried publishes (`Nats-Msg-Id`). */
  msgID?: string;
  /** Wire format; msgpack by default. */
  format?: "msgpack" | "json";
}

/**
 * Publishes one event to a JetStream subject in a format the runtime decodes: msgpack without
 * headers (the default), or JSON with `Content-Type: application/json`.
 *
 * @example
 * await produce(js, "clicks.u1", { event_id: "e1", amount: 3 }, { msgID: "e1" });
 */
export function produce(js: JetStreamClient, subject: string, value: unknown, opts: ProduceOptions = {}): Promise<PubAck> {
  const msgID = opts.msgID ? { msgID: opts.msgID } : {};
  if (opts.format !== "json") {
    // No header: msgpack is the default wire format, and header-less messages are cheaper to consume.
    return js.publish(subject, msgpackCodec.encode(value), msgID);
  }
  const h = natsHeaders();
  h.set(CONTENT_TYPE_HEADER, jsonCodec.contentType);
  return js.publish(subject, jsonCodec.encode(value), { headers: h, ...msgID });
}
