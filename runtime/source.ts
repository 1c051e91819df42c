import { DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { Observable } from "rxjs";
import type { Credit } from "./credit.ts";

export interface SourceOptions {
  stream: string;
  /** First stream sequence to read. */
  startSeq: number;
  /** A single filter subject (nats-server 2.9 takes one); all of the stream when absent. */
  filter?: string;
  credit: Credit;
  /** Largest pull request, in messages. */
  maxFetch?: number;
  /** Hand messages downstream in chunks of at most this many (sooner when the stream is drained). */
  chunk?: number;
  /** How long one pull request waits on an idle stream, ms. */
  expiresMs?: number;
  /** Latest count of messages left in the stream after the last one delivered. */
  onPending?: (pending: number) => void;
}

/**
 * The partition source: an ordered pull consumer that only asks JetStream for as many messages as
 * it holds credit for. Emits chunks in stream order; each message holds one credit until released
 * downstream. Position is owned by the caller (snapshots), so the consumer needs no acks.
 *
 * @example
 * pullSource(js, { stream: "weir_clicks_in", startSeq: 1, credit }).subscribe((msgs) => route(msgs));
 */
export function pullSource(js: JetStreamClient, opts: SourceOptions): Observable<JsMsg[]> {
  const maxFetch = opts.maxFetch ?? 2048;
  const chunkSize = opts.chunk ?? 1024;
  const expires = opts.expiresMs ?? 2000;
  return new Observable<JsMsg[]>((sub) => {
    let stopped = false;
    let current: { stop(): void } | undefined;
    (async () => {
      const consumer = await js.consumers.get(opts.stream, {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: Math.max(1, opts.startSeq),
        ...(opts.filter ? { filter_subjects: opts.filter } : {}),
      });
      while (!stopped) {
        // Wait for a worthwhile amount of credit rather than trickling one message at a time.
        const granted = await opts.credit.acquire(maxFetch, Math.min(maxFetch, Math.ceil(opts.credit.limit / 4)));
        if (stopped || granted === 0) {
          if (granted) opts.credit.release(granted);
          break;
        }
        const iter = await consumer.fetch({ max_messages: granted, expires });
        current = iter;
        let got = 0;
        let chunk: JsMsg[] = [];
        for await (const m of iter) {
          chunk.push(m);
          got++;
          const pending = m.info.pending;
          if (pending === 0 || chunk.length >= chunkSize) {
            opts.onPending?.(pending);
            sub.next(chunk);
            chunk = [];
          }
          if (stopped) break;
        }
        if (chunk.length > 0) {
          opts.onPending?.(chunk[chunk.length - 1]!.info.pending);
          sub.next(chunk);
        }
        current = undefined;
        if (granted > got) opts.credit.release(granted - got);
      }
      sub.complete();
    })().catch((err) => sub.error(err));
    return () => {
      stopped = true;
      current?.stop();
    };
  });
}
