import { DeliverPolicy, type Consumer, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
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
  /** Called when reading failed and the source will recreate its consumer and try again. */
  onRetry?: (err: unknown) => void;
  /** Keep retrying for this long (ms) before failing. Default 120 000. */
  giveUpMs?: number;
  /**
   * Last sequence to hand on (a bounded replay): the source completes once it has handed on every
   * message up to it. Every message up to it must already be in the stream.
   */
  stopSeq?: number;
}

/**
 * The partition source: an ordered pull consumer that only asks JetStream for as many messages as
 * it holds credit for. Emits chunks in stream order; each message holds one credit until released
 * downstream. Position is owned by the caller (snapshots), so the consumer needs no acks.
 *
 * @example
 * pullSource(js, { stream: "weir_clicks_in", startSeq: 1, credit }).subscribe((msgs) => route(msgs));
 */
/** How long past its expiry a silent pull is given before it is abandoned. */
const STALL_GRACE_MS = 5_000;

export function pullSource(js: JetStreamClient, opts: SourceOptions): Observable<JsMsg[]> {
  const maxFetch = opts.maxFetch ?? 512;
  const chunkSize = opts.chunk ?? 1024;
  const expires = opts.expiresMs ?? 2000;
  const giveUpMs = opts.giveUpMs ?? 120_000;
  return new Observable<JsMsg[]>((sub) => {
    let stopped = false;
    let current: { stop(): void } | undefined;
    (async () => {
      // The source owns its position: after a broker restart or a lost consumer it simply reads
      // again from the next sequence it has not delivered.
      let nextSeq = Math.max(1, opts.startSeq);
      let consumer: Consumer | undefined;
      let failingSince = 0;
      let reachedEnd = false;
      while (!stopped && !reachedEnd) {
        // Wait for a worthwhile amount of credit rather than trickling one message at a time.
        const granted = await opts.credit.acquire(maxFetch, Math.min(maxFetch, Math.ceil(opts.credit.limit / 4)));
        if (stopped || granted === 0) {
          if (granted) opts.credit.release(granted);
          break;
        }
        let got = 0;
        let watchdog: ReturnType<typeof setInterval> | undefined;
        let chunk: JsMsg[] = [];
        const flush = () => {
          if (chunk.length === 0) return;
          opts.onPending?.(chunk[chunk.length - 1]!.info.pending);
          sub.next(chunk);
          chunk = [];
        };
        try {
          consumer ??= await js.consumers.get(opts.stream, {
            deliver_policy: DeliverPolicy.StartSequence,
            opt_start_seq: nextSeq,
            ...(opts.filter ? { filter_subjects: opts.filter } : {}),
          });
          const iter = await consumer.fetch({ max_messages: granted, expires });
          current = iter;
          // A pull ends when it is filled or expires. One that goes silent past that (seen after
          // restarts: the ordered consumer's fetch stops delivering and never ends) is abandoned,
          // and the consumer recreated from our own position. Each wait races a timer, because
          // stopping the stalled iterator does not always end it.
          let stalled = false;
          let heard = Date.now();
          const silence = new Promise<"stalled">((resolve) => {
            watchdog = setInterval(() => {
              if (Date.now() - heard > expires + STALL_GRACE_MS) resolve("stalled");
            }, 500);
          });
          const messages = iter[Symbol.asyncIterator]();
          for (;;) {
            const next = await Promise.race([messages.next(), silence]);
            heard = Date.now();
            if (next === "stalled") {
              stalled = true;
              iter.stop();
              break;
            }
            if (next.done) break;
            const m = next.value;
            // Already handed on (a redelivery after a consumer was recreated).
            if (m.seq < nextSeq) continue;
            if (opts.stopSeq !== undefined && m.seq > opts.stopSeq) {
              reachedEnd = true;
              iter.stop();
              break;
            }
            if (got >= granted) {
              // More than this pull asked for: leave it, and re-read from our own position next
              // time, so every message handed on holds exactly one credit.
              consumer = undefined;
              iter.stop();
              break;
            }
            chunk.push(m);
            got++;
            nextSeq = m.seq + 1;
            if (m.info.pending === 0 || chunk.length >= chunkSize) flush();
            // Nothing left, or the last one: everything up to stopSeq was in the stream already.
            if (opts.stopSeq !== undefined && (m.info.pending === 0 || m.seq >= opts.stopSeq)) {
              reachedEnd = true;
              iter.stop();
              break;
            }
            if (stopped) break;
          }
          // A pull that ended empty: no message at or after nextSeq exists.
          if (!stalled && got === 0 && opts.stopSeq !== undefined) reachedEnd = true;
          if (stalled) {
            consumer = undefined;
            opts.onRetry?.(new Error(`a pull from ${opts.stream} went silent; reading again from sequence ${nextSeq}`));
          }
          failingSince = 0;
        } catch (err) {
          consumer = undefined;
          const now = Date.now();
          failingSince ||= now;
          if (now - failingSince > giveUpMs) throw err;
          opts.onRetry?.(err);
          await new Promise((r) => setTimeout(r, Math.min(2000, 100 + (now - failingSince) / 4)));
        } finally {
          clearInterval(watchdog);
          flush();
          current = undefined;
          if (granted > got) opts.credit.release(granted - got);
        }
      }
      sub.complete();
    })().catch((err) => sub.error(err));
    return () => {
      stopped = true;
      current?.stop();
    };
  });
}
