import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { CONTENT_TYPE_HEADER, jsonCodec, msgpackCodec, governingSubject, SCHEMA_ID_HEADER, type SchemaRegistryPort, type SchemaValidate } from "../route/mod.ts";
import { ConfigError, SchemaValidationError } from "../contract/mod.ts";

export interface ProduceOptions {
  /** Id for server-side dedup of retried publishes (`Nats-Msg-Id`). */
  msgID?: string;
  /** Wire format; msgpack by default. */
  format?: "msgpack" | "json";
  /** Registered schema the event was validated with (sent as the `Weir-Schema-Id` header). */
  schemaId?: number;
}

/**
 * Publishes one event to a JetStream subject in a format the runtime decodes: msgpack (the default;
 * without headers unless a schema id is attached), or JSON with `Content-Type: application/json`.
 *
 * @example
 * await produce(js, "clicks.u1", { event_id: "e1", amount: 3 }, { msgID: "e1" });
 */
export function produce(js: JetStreamClient, subject: string, value: unknown, opts: ProduceOptions = {}): Promise<PubAck> {
  const msgID = opts.msgID ? { msgID: opts.msgID } : {};
  const json = opts.format === "json";
  if (!json && opts.schemaId === undefined) {
    // No header: msgpack is the default wire format, and header-less messages are cheaper to consume.
    return js.publish(subject, msgpackCodec.encode(value), msgID);
  }
  const h = natsHeaders();
  if (json) h.set(CONTENT_TYPE_HEADER, jsonCodec.contentType);
  if (opts.schemaId !== undefined) h.set(SCHEMA_ID_HEADER, String(opts.schemaId));
  return js.publish(subject, json ? jsonCodec.encode(value) : msgpackCodec.encode(value), { headers: h, ...msgID });
}

export interface SchemaProducer {
  /**
   * Validates `value` against the latest schema governing `subject` and publishes it with that
   * schema's id. Throws SchemaValidationError (nothing is published) when it does not match, and
   * ConfigError when no schema governs the subject.
   */
  publish(subject: string, value: unknown, opts?: Omit<ProduceOptions, "schemaId">): Promise<PubAck>;
  /** The schema id and registry subject used for a NATS subject. */
  schemaFor(subject: string): Promise<{ id: number; registrySubject: string }>;
}

/**
 * A producer that validates events before publishing them. The governing registry subject is
 * `<subject>-value`, or a registered `<pattern>-value` whose pattern matches; it is looked up once
 * per NATS subject, so a producer keeps the schema version it started with.
 *
 * @example
 * const producer = schemaProducer(js, port);
 * await producer.publish("orders.eu", { order_id: "o1", amount: 10 });
 */
export function schemaProducer(js: JetStreamClient, port: SchemaRegistryPort): SchemaProducer {
  const bySubject = new Map<string, Promise<{ id: number; registrySubject: string; validate: SchemaValidate }>>();
  const resolve = (subject: string) => {
    let hit = bySubject.get(subject);
    if (!hit) {
      hit = (async () => {
        const registrySubject = await governingSubject(port, subject);
        const latest = registrySubject ? await port.latest(registrySubject) : undefined;
        if (!registrySubject || !latest) {
          throw new ConfigError(`no schema is registered for ${subject} (looked for ${subject}-value and <pattern>-value subjects matching it)`);
        }
        return { registrySubject, ...latest };
      })();
      hit.catch(() => bySubject.delete(subject));
      bySubject.set(subject, hit);
    }
    return hit;
  };
  return {
    async publish(subject, value, opts = {}) {
      const s = await resolve(subject);
      const problem = s.validate(value);
      if (problem !== undefined) {
        throw new SchemaValidationError(`event for ${subject} does not match schema ${s.id} (${s.registrySubject}): ${problem}`);
      }
      return produce(js, subject, value, { ...opts, schemaId: s.id });
    },
    async schemaFor(subject) {
      const { id, registrySubject } = await resolve(subject);
      return { id, registrySubject };
    },
  };
}
