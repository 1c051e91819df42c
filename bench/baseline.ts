import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";

/**
 * The baseline every bench compares with: a bare nats.js consume loop (AckPolicy.None) that only
 * counts the stream's first `total` messages. Returns messages per second.
 */
export async function bareConsumeRate(js: JetStreamClient, jsm: JetStreamManager, stream: string, total: number): Promise<number> {
  const name = `bench_${Date.now()}`;
  await jsm.consumers.add(stream, { name, ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
  const c = await js.consumers.get(stream, name);
  const t0 = performance.now();
  const iter = await c.consume({ max_messages: 4096 });
  let n = 0;
  for await (const _ of iter) if (++n >= total) break;
  const ms = performance.now() - t0;
  iter.stop();
  await jsm.consumers.delete(stream, name);
  return (total / ms) * 1000;
}
