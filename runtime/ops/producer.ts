import type { JetStreamClient, JetStreamManager, PubAck } from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from "@nats-io/nats-core";
import { CONTENT_TYPE_HEADER, jsonCodec, msgpackCodec, governingSubject, partitionsFor, SCHEMA_ID_HEADER, TRACE_HEADER, type SchemaRegistryPort, type SchemaValidate } from "../route/mod.ts";
import { ConfigError, partitionsOf, SchemaValidationError, type AppDefinition } from "../contract/mod.ts";
import { appNames, hasBucket, hasStream } from "../nats/mod.ts";
import { kvSnapshotStore } from "../state/mod.ts";

/**
 * An app's partitioned input as a producer sees it: where each event goes so the partition that
 * owns its key reads it straight from its own stream (see {@link appInput}).
 */
export interface AppInput {
  /** The app's partitioned input prefix: partition p's events are published to `<prefix>.<p>.<subject>`. */
  readonly prefix: string;
  readonly partitions: number;
  /**
   * The distinct partitions of the keys of the actors that read `subject`; undefined when the
   * runtime would dead-letter the event (it then goes to `subject` itself, where the app's
   * repartition step dead-letters it once, with the reason).
   */
  partitionsOf(subject: string, value: unknown): number[] | undefined;
}

/**
 * The partitioned input of an app with this many partitions (the app's own count, else the
 * default, unless told). Producers given it publish each event to the partitions of its keys, so
 * the app reads it without the repartition step's extra hop. Use {@link appInputOf} to take the
 * count the app's stored state was made with.
 *
 * @example
 * const input = appInput(app, 32);
 * await produce(js, "purchases.u1", { user_id: "u1", amount: 3 }, { msgID: "e1", input });
 * // stored in weir_shop_in_<partitionOf("u1", 32)> as weir.in.shop.<p>.purchases.u1
 */
export function appInput(app: AppDefinition, partitions?: number): AppInput {
  const n = partitionsOf(app, partitions);
  return { prefix: appNames(app.name).inputPrefix, partitions: n, partitionsOf: partitionsFor(app, n) };
}

/**
 * The partitioned input of an app as it runs on this NATS: its partition count is the one its
 * stored state was made with (`partitions`, when given, must agree), else the app's own. Refuses
 * an app whose partition streams do not exist yet (its first start creates them).
 *
 * @example
 * const input = await appInputOf(nc, jsm, app);
 */
export async function appInputOf(nc: NatsConnection, jsm: JetStreamManager, app: AppDefinition, partitions?: number): Promise<AppInput> {
  const bucket = appNames(app.name).bucket;
  const stored = (await hasBucket(jsm, bucket)) ? (await (await kvSnapshotStore(nc, { bucket })).loadConfig())?.partitions : undefined;
  if (stored !== undefined && partitions !== undefined && stored !== partitions) {
    throw new ConfigError(`app ${app.name} runs with ${stored} partitions here; producers must use the same (got ${partitions})`);
  }
  const input = appInput(app, stored ?? partitions);
  const first = appNames(app.name).partitionStream(0);
  if (!(await hasStream(jsm, first))) {
    throw new ConfigError(`app ${app.name} has no partition streams here yet (no ${first}): start it once (weir run creates them), or publish unpartitioned`);
  }
  return input;
}

export interface ProduceOptions {
  /**
   * Id for server-side dedup of retried publishes (`Nats-Msg-Id`); with `input`, each partition's
   * copy gets `<msgID>:<partition>`.
   */
  msgID?: string;
  /** Wire format; msgpack by default. */
  format?: "msgpack" | "json";
  /** Registered schema the event was validated with (sent as the `Weir-Schema-Id` header). */
  schemaId?: number;
  /** Publish to the app's partitioned input (one copy per distinct partition of the event's keys) instead of `subject` as it is. */
  input?: AppInput;
  /** W3C trace context (`00-<trace id>-<span id>-<flags>`), sent as the `traceparent` header: the event's outputs and dead letters carry it. */
  traceparent?: string;
}

/**
 * Publishes one event to a JetStream subject in a format the runtime decodes: msgpack (the default;
 * without headers unless a schema id is attached), or JSON with `Content-Type: application/json`.
 * With `input`, the event goes to the partitioned subjects of the app's partitions its keys fall in
 * (`<prefix>.<p>.<subject>`); the promise resolves once every copy is stored, with the first's ack.
 *
 * @example
 * await produce(js, "clicks.u1", { event_id: "e1", amount: 3 }, { msgID: "e1" });
 * await produce(js, "clicks.u1", { event_id: "e1", amount: 3 }, { msgID: "e1", input: appInput(app) });
 */
export async function produce(js: JetStreamClient, subject: string, value: unknown, opts: ProduceOptions = {}): Promise<PubAck> {
  const json = opts.format === "json";
  const data = json ? jsonCodec.encode(value) : msgpackCodec.encode(value);
  // No header: msgpack is the default wire format, and header-less messages are cheaper to consume.
  let headers: MsgHdrs | undefined;
  if (json || opts.schemaId !== undefined || opts.traceparent) {
    headers = natsHeaders();
    if (json) headers.set(CONTENT_TYPE_HEADER, jsonCodec.contentType);
    if (opts.schemaId !== undefined) headers.set(SCHEMA_ID_HEADER, String(opts.schemaId));
    if (opts.traceparent) headers.set(TRACE_HEADER, opts.traceparent);
  }
  const send = (to: string, msgID: string | undefined) => js.publish(to, data, { ...(headers ? { headers } : {}), ...(msgID ? { msgID } : {}) });
  const partitions = opts.input?.partitionsOf(subject, value);
  if (!partitions) return send(subject, opts.msgID);
  const { prefix } = opts.input!;
  const acks = await Promise.all(partitions.map((p) => send(`${prefix}.${p}.${subject}`, opts.msgID && `${opts.msgID}:${p}`)));
  return acks[0]!;
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
 * A producer that validates events before publishing them (to the app's partitioned input when
 * `defaults.input` is given). The governing registry subject is
 * `<subject>-value`, or a registered `<pattern>-value` whose pattern matches; it is looked up once
 * per NATS subject, so a producer keeps the schema version it started with.
 *
 * @example
 * const producer = schemaProducer(js, port);
 * await producer.publish("orders.eu", { order_id: "o1", amount: 10 });
 */
export function schemaProducer(js: JetStreamClient, port: SchemaRegistryPort, defaults: Pick<ProduceOptions, "input"> = {}): SchemaProducer {
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
      return produce(js, subject, value, { ...defaults, ...opts, schemaId: s.id });
    },
    async schemaFor(subject) {
      const { id, registrySubject } = await resolve(subject);
      return { id, registrySubject };
    },
  };
}
