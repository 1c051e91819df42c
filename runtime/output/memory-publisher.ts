import { PublishError, RefusedMessageError, subjectMatches, subjectProblem } from "../contract/mod.ts";
import type { Publisher } from "./publisher.ts";

/** A message a {@link memoryPublisher} stored. */
export interface StoredMessage {
  /** Position in the publisher's store, from 1. */
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

/** What a stream would store: its subjects, and the largest message it takes. */
export interface MemoryStream {
  subjects: readonly string[];
  maxMessageBytes?: number;
}

export interface MemoryPublisherOptions {
  /** The "streams": a subject none of them holds is refused. Default: one that holds everything. */
  streams?: readonly MemoryStream[];
  /** Largest message (data and headers), as a server's max payload. Default 1 MiB. */
  maxPayload?: number;
}

export interface MemoryPublisher extends Publisher {
  /** Stored messages in order, those matching `pattern` when given. */
  messages(pattern?: string): StoredMessage[];
}

/**
 * A publisher that stores in this process's memory, with the pipelined publisher's semantics: a
 * message id is stored once (forever: the window is the store's life), a subject no stream holds
 * or an invalid one is refused, a message past the max payload is refused, one past its stream's
 * max message size is refused for its content. For running the actor host without a broker.
 *
 * @example
 * const pub = memoryPublisher();
 * await pub.publish("totals.u1", bytes, { msgID: "a.0" });
 * pub.messages("totals.>").length // 1
 */
export function memoryPublisher(opts: MemoryPublisherOptions = {}): MemoryPublisher {
  const stored: StoredMessage[] = [];
  const ids = new Set<string>();
  const streams = opts.streams ?? [{ subjects: [">"] }];
  const maxPayload = opts.maxPayload ?? 1024 * 1024;
  return {
    maxPayload,
    async publish(subject, data, po) {
      const bad = subjectProblem(subject);
      if (bad) throw new PublishError(`illegal subject "${subject}": ${bad}`);
      const stream = streams.find((s) => s.subjects.some((p) => subjectMatches(p, subject)));
      if (!stream) throw new PublishError(`no JetStream stream stores subject "${subject}"`);
      const headers = { ...(po.msgID ? { "Nats-Msg-Id": po.msgID } : {}), ...po.headers };
      const size = data.length + Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);
      if (size > maxPayload) throw new PublishError(`"${subject}": message of ${size} bytes exceeds the max payload of ${maxPayload}`);
      if (stream.maxMessageBytes !== undefined && data.length > stream.maxMessageBytes) {
        throw new RefusedMessageError(`JetStream refused "${subject}": message size exceeds maximum allowed`);
      }
      if (po.msgID !== undefined) {
        if (ids.has(po.msgID)) return;
        ids.add(po.msgID);
      }
      stored.push({ seq: stored.length + 1, subject, data, headers });
    },
    messages: (pattern) => (pattern === undefined ? [...stored] : stored.filter((m) => subjectMatches(pattern, m.subject))),
  };
}
