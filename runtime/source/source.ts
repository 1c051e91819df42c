import { DeliverPolicy, type Consumer, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { Observable } from "rxjs";
import { backoffMs, DEFAULTS, every, systemScheduler, type Scheduler } from "../contract/mod.ts";
import type { Credit } from "./credit.ts";

export interface SourceOptions {
  stream: string;
  /** First stream sequence to read. */
  startSeq: number;
  /** A literal subject to read through (see `AppStreams.filter` for why never a wildcard); all of the stream when absent. */
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
  /** Keep retrying for this long (ms) before failing. Default `DEFAULTS.sourceGiveUpMs`. */
  giveUpMs?: number;
  scheduler?: Scheduler;
  /**
   * Last sequence to hand on (a bounded replay): the source completes once it has handed on every
   * message up to it. Every message up to it must already be in the stream.
   */
  stopSeq?: number;
}

/** Retries of a failing read back off up to this. */
const READ_BACKOFF = { baseMs: 200, maxMs: 2_000 };

/**
 * The source: an ordered pull consumer that only asks JetStream for as many messages as it holds
 * credit for. Emits chunks in stream order; each message holds one credit until released
 * downstream. Position is owned by the caller (snapshots), so the consumer needs no acks.
 *
 * @example
 * pullSource(js, { stream: "weir_clicks_in", startSeq: 1, credit }).subscribe((msgs) => route(msgs));
 */
export function pullSource(js: JetStreamClient, opts: SourceOptions): Observable<JsMsg[]> {
  const maxFetch = opts.maxFetch ?? DEFAULTS.maxFetch;
  const chunkSize = opts.chunk ?? DEFAULTS.pullChunk;
  const expires = opts.expiresMs ?? DEFAULTS.pullExpiresMs;
  const giveUpMs = opts.giveUpMs ?? DEFAULTS.sourceGiveUpMs;
  const scheduler = opts.scheduler ?? systemScheduler;
  return new Observable<JsMsg[]>((sub) => {
    let stopped = false;
    let current: { stop(): void } | undefined;
    (async () => {
      // The source owns its position: after a broker restart or a lost consumer it simply reads
      // again from the next sequence it has not delivered.
      let nextSeq = Math.max(1, opts.startSeq);
      let consumer: Consumer | undefined;
      let failingSince = 0;
      let failures = 0;
      let reachedEnd = false;
      while (!stopped && !reachedEnd) {
        // Wait for a worthwhile amount of credit rather than trickling one message at a time.
        const granted = await opts.credit.acquire(maxFetch, Math.min(maxFetch, Math.ceil(opts.credit.limit / 4)));
        if (stopped || granted === 0) {
          if (granted) opts.credit.release(granted);
          break;
        }
        let got = 0;
        let stopWatchdog = () => {};
        let chunk: JsMsg[] = [];
        let soon: ReturnType<typeof setImmediate> | undefined;
        const flush = () => {
          if (soon) clearImmediate(soon);
          soon = undefined;
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
          let heard = scheduler.now();
          const silence = new Promise<"stalled">((resolve) => {
            stopWatchdog = every(scheduler, 500, () => {
              if (scheduler.now() - heard > expires + DEFAULTS.pullStallGraceMs) resolve("stalled");
            });
          });
          const messages = iter[Symbol.asyncIterator]();
          for (;;) {
            const next = await Promise.race([messages.next(), silence]);
            heard = scheduler.now();
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
            if (chunk.length >= chunkSize) flush();
            // Caught up: hand on what this read brought once the messages already received are in
            // the chunk (a source that follows a live stream would otherwise hand on one at a time).
            else if (m.info.pending === 0) soon ??= setImmediate(flush);
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
          failures = 0;
        } catch (err) {
          consumer = undefined;
          const now = scheduler.now();
          failingSince ||= now;
          if (now - failingSince > giveUpMs) throw err;
          opts.onRetry?.(err);
          await scheduler.sleep(backoffMs(++failures, READ_BACKOFF));
        } finally {
          stopWatchdog();
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
