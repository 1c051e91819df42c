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
 * Publishes one event to a JetStream subject in the format the runtime decodes.
 *
 * @example
 * await produce(js, "clicks.u1", { event_id: "e1", amount: 3 }, { msgID: "e1" });
 */
export function produce(js: JetStreamClient, subject: string, value: unknown, opts: ProduceOptions = {}): Promise<PubAck> {
  const codec = opts.format === "json" ? jsonCodec : msgpackCodec;
  const h = natsHeaders();
  h.set(CONTENT_TYPE_HEADER, codec.contentType);
  return js.publish(subject, codec.encode(value), { headers: h, ...(opts.msgID ? { msgID: opts.msgID } : {}) });
}
