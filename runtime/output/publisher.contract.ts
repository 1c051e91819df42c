import { describe, expect, test } from "bun:test";
import { PublishError, RefusedMessageError } from "../contract/mod.ts";
import type { Publisher } from "./publisher.ts";

export interface PublisherUnderTest extends AsyncDisposable {
  publisher: Publisher;
  /** The messages stored on `subject` (subject, data, headers), in order. */
  stored(subject: string): Promise<{ subject: string; data: Uint8Array; headers: Record<string, string> }[]>;
}

/**
 * Opens a publisher whose "streams" store `out.>` (messages of at most `maxMessageBytes` on
 * `out.small.>`) and nothing else.
 */
export type OpenPublisher = (maxMessageBytes: number) => Promise<PublisherUnderTest>;

/** What every Publisher must do, run against each implementation in one line. */
export function publisherContract(name: string, open: OpenPublisher): void {
  describe(`Publisher contract (${name})`, () => {
    test("resolves once stored; a message id is stored once; headers are kept", async () => {
      await using p = await open(1024);
      const data = new Uint8Array([1, 2, 3]);
      await Promise.all(Array.from({ length: 60 }, (_, i) => p.publisher.publish(`out.${i % 3}`, data, { msgID: `m${i % 20}` })));
      await p.publisher.publish("out.h", data, { msgID: "h1", headers: { "Weir-Reason": "because" } });
      const all = [...(await p.stored("out.0")), ...(await p.stored("out.1")), ...(await p.stored("out.2"))];
      expect(all.length).toBe(20);
      const [h] = await p.stored("out.h");
      expect(h?.headers["Weir-Reason"]).toBe("because");
      expect(h?.headers["Nats-Msg-Id"]).toBe("h1");
      expect([...h!.data]).toEqual([1, 2, 3]);
    });

    test("refuses what cannot be stored: no stream for the subject, past the max payload, past the stream's message size (the message's own fault)", async () => {
      await using p = await open(64);
      const pub = p.publisher;
      expect(pub.maxPayload).toBeGreaterThan(1024);
      await expect(pub.publish("nowhere.x", new Uint8Array(1), { msgID: "n1" })).rejects.toThrow(PublishError);
      await expect(pub.publish("nowhere.x", new Uint8Array(1), { msgID: "n1" })).rejects.toThrow('no JetStream stream stores subject "nowhere.x"');
      await expect(pub.publish("out.big", new Uint8Array(pub.maxPayload + 1), {})).rejects.toThrow();
      const refused = await pub.publish("out.small.x", new Uint8Array(100), { msgID: "s1" }).then(() => undefined, (e: unknown) => e);
      expect(refused).toBeInstanceOf(RefusedMessageError);
      await pub.publish("out.small.x", new Uint8Array(10), { msgID: "s2" });
      expect((await p.stored("out.small.x")).length).toBe(1);
    });
  });
}
