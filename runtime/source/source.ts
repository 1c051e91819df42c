import { AckPolicy, DeliverPolicy, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { createInbox, nanos, nuid, type Msg, type NatsConnection } from "@nats-io/nats-core";
import { Observable } from "rxjs";
import { backoffMs, DEFAULTS, every, systemScheduler, type Scheduler, type SourceMsg } from "../contract/mod.ts";
import { subjectBytes } from "../nats/mod.ts";
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

/** The JetStream API weir's connections use (no domain or custom prefix). */
const API = "$JS.API";

/** A pull is taken as expired this long after its expiry when the server has not said so. */
const EXPIRY_MARGIN_MS = 500;

/** A consumer the source made, left behind by a source that vanished, is removed by the server after this. */
const INACTIVE_MS = 60_000;

/** One message of a pull: the stream's message, with what its ack subject says. */
class PulledMsg implements SourceMsg {
  constructor(
    private readonly msg: Msg,
    readonly seq: number,
    readonly timestampNanos: number,
    readonly pending: number,
  ) {}
  /** Itself: one object per message. */
  get info(): SourceMsg["info"] {
    return this;
  }
  get subject() {
    return this.msg.subject;
  }
  get data() {
    return this.msg.data;
  }
  get headers() {
    return this.msg.headers;
  }
}

/** What a pulled message's ack subject says. */
interface AckInfo {
  seq: number;
  dseq: number;
  ns: number;
  pending: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A reader of pulled messages' ack subjects, `$JS.ACK.<stream>.<consumer>.<delivered>.<stream
 * seq>.<delivery seq>.<time>.<pending>` (or the form with a domain and an account hash after
 * `ACK` and a token at the end): undefined for a message that is not one of `consumer`'s. Called
 * for every message, on the subject's bytes where the client has them (see `subjectBytes`): the
 * common form is scanned in place, without decoding or splitting it.
 */
export const ackReader = (stream: string, consumer: string) => {
  const prefix = encoder.encode(`$JS.ACK.${stream}.${consumer}.`);
  /** What every call returns, filled in again by the next: the caller reads it at once. */
  const out: AckInfo = { seq: 0, dseq: 0, ns: 0, pending: 0 };
  /** The numbers after the consumer: delivered count, stream seq, delivery seq, time, pending. */
  const n = [0, 0, 0, 0, 0];
  const fill = (seq: number, dseq: number, ns: number, pending: number) => {
    out.seq = seq;
    out.dseq = dseq;
    out.ns = ns;
    out.pending = pending;
    return out;
  };
  const read = (reply: Uint8Array): AckInfo | undefined => {
    if (reply.length <= prefix.length) return undefined;
    for (let i = 0; i < prefix.length; i++) {
      if (reply[i] !== prefix[i]) {
        // The form with a domain and an account hash: split.
        const t = decoder.decode(reply).split(".");
        if (t.length < 11 || t[0] !== "$JS" || t[1] !== "ACK" || t[4] !== stream || t[5] !== consumer) return undefined;
        return fill(Number(t[7]), Number(t[8]), Number(t[9]), Number(t[10]));
      }
    }
    let k = 0;
    let v = 0;
    let digits = 0;
    for (let i = prefix.length; i <= reply.length; i++) {
      const c = i < reply.length ? reply[i]! : 46;
      if (c === 46) {
        if (digits === 0) return undefined;
        n[k++] = v;
        if (k === 5) break;
        v = digits = 0;
      } else if (c >= 48 && c <= 57) {
        v = v * 10 + (c - 48);
        digits++;
      } else return undefined;
    }
    return k === 5 ? fill(n[1]!, n[2]!, n[3]!, n[4]!) : undefined;
  };
  return (reply: string | Uint8Array | undefined): AckInfo | undefined => {
    if (!reply || reply.length === 0) return undefined;
    return read(typeof reply === "string" ? encoder.encode(reply) : reply);
  };
};

/** How a pull ended. */
type PullEnd = "filled" | "expired" | "stalled" | "reset" | "stopped";

/** A pull request under way. */
interface Pull {
  /** Where its status messages (expired, refused) come: `<source inbox>.<n>`. */
  inbox: string;
  granted: number;
  /** Messages of it handed on so far (each holds one credit). */
  got: number;
  /** When it was asked for (scheduler time). */
  startedAt: number;
  ended?: PullEnd | Error;
  end(how: PullEnd | Error): void;
  done: Promise<PullEnd>;
}

/**
 * The source: pulls from an ephemeral consumer (no acks) of its own, only as many messages as it
 * holds credit for, and emits them in chunks in stream order; each message holds one credit until
 * released downstream. The source owns its position (the caller's snapshots): a gap in delivery,
 * a lost consumer, a broker restart or a pull gone silent are all met the same way, by a new
 * consumer from the next sequence not yet handed on.
 *
 * It speaks JetStream's pull protocol on the core connection (one subscription, one request per
 * pull) rather than through the JetStream client's consumer iterators: a message costs one
 * callback and one parse of its ack subject, and no promise.
 *
 * @example
 * pullSource(nc, { stream: "weir_clicks_in", startSeq: 1, credit }).subscribe((msgs) => route(msgs));
 */
export function pullSource(nc: NatsConnection, opts: SourceOptions): Observable<SourceMsg[]> {
  const maxFetch = opts.maxFetch ?? DEFAULTS.maxFetch;
  const chunkSize = opts.chunk ?? DEFAULTS.pullChunk;
  const expires = opts.expiresMs ?? DEFAULTS.pullExpiresMs;
  const giveUpMs = opts.giveUpMs ?? DEFAULTS.sourceGiveUpMs;
  const scheduler = opts.scheduler ?? systemScheduler;
  return new Observable<SourceMsg[]>((sub) => {
    let stopped = false;
    let pull: Pull | undefined;
    let jsm: JetStreamManager | undefined;
    let consumer: string | undefined;
    let readAck: ReturnType<typeof ackReader> | undefined;
    /** An error the subscription reported between pulls. */
    let failure: Error | undefined;
    // The source owns its position: it reads again from the next sequence it has not handed on.
    let nextSeq = Math.max(1, opts.startSeq);
    /** Delivery sequence of the consumer's last message: the next must follow it, or there is a gap. */
    let lastDseq = 0;
    let reachedEnd = false;
    const inboxPrefix = createInbox();
    let pulls = 0;
    /** Messages the subscription has had (any: a stream message or a status); the watchdog notes when it moves. */
    let received = 0;
    let seen = 0;
    /** When the source last heard from the server (scheduler time), as of the watchdog's last look. */
    let heard = scheduler.now();
    /** When the last pull was asked for: a consumer idle for long (credit held back downstream) is near its inactivity limit. */
    let lastPullAt = 0;

    let chunk: SourceMsg[] = [];
    let soon: ReturnType<typeof setImmediate> | undefined;
    const flush = () => {
      if (soon) clearImmediate(soon);
      soon = undefined;
      if (chunk.length === 0) return;
      opts.onPending?.(chunk[chunk.length - 1]!.info.pending);
      const out = chunk;
      chunk = [];
      sub.next(out);
    };

    /** Drops the consumer: the next pull makes a new one from `nextSeq`. */
    const forget = () => {
      if (consumer && jsm) jsm.consumers.delete(opts.stream, consumer).catch(() => {});
      consumer = readAck = undefined;
    };

    const onMsg = (err: Error | null, msg: Msg) => {
      received++;
      const p = pull;
      if (err) {
        if (p) p.end(err);
        else failure = err;
        return;
      }
      if (!p) return; // between pulls: nothing is asked for, so nothing counts
      const reply = subjectBytes(msg, "reply");
      if (!reply || reply.length === 0) {
        // A status of a pull: only the current one's counts.
        if (msg.subject !== p.inbox) return;
        const code = msg.headers?.code ?? 0;
        if (code === 100) return; // heartbeat or flow control
        if (code === 404 || code === 408) return p.end("expired");
        if (code === 409) return p.end("reset"); // consumer deleted, leadership change, ...
        return p.end(new Error(`pulling from ${opts.stream}: ${code} ${msg.headers?.description ?? ""}`.trim()));
      }
      const a = readAck?.(reply);
      if (!a) return; // an earlier consumer's
      if (a.dseq !== lastDseq + 1) return p.end("reset"); // a gap: read again from our own position
      lastDseq = a.dseq;
      if (a.seq < nextSeq) return; // handed on already
      if (opts.stopSeq !== undefined && a.seq > opts.stopSeq) {
        reachedEnd = true;
        return p.end("filled");
      }
      chunk.push(new PulledMsg(msg, a.seq, a.ns, a.pending));
      p.got++;
      nextSeq = a.seq + 1;
      // Nothing left, or the last one: everything up to stopSeq was in the stream already.
      if (opts.stopSeq !== undefined && (a.pending === 0 || a.seq >= opts.stopSeq)) reachedEnd = true;
      if (chunk.length >= chunkSize) flush();
      // Caught up: hand on what this read brought once the messages already received are in the
      // chunk (a source that follows a live stream would otherwise hand on one at a time).
      else if (a.pending === 0) soon ??= setImmediate(flush);
      if (p.got >= p.granted || reachedEnd) p.end("filled");
    };

    const create = async () => {
      jsm ??= await jetstreamManager(nc, { checkAPI: false });
      const name = `weir_src_${nuid.next()}`;
      await jsm.consumers.add(opts.stream, {
        name,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: nextSeq,
        ack_policy: AckPolicy.None,
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: nanos(INACTIVE_MS),
        ...(opts.filter ? { filter_subject: opts.filter } : {}),
      });
      consumer = name;
      heard = scheduler.now();
      readAck = ackReader(opts.stream, name);
      lastDseq = 0;
    };

    /** Asks for `granted` messages; the pull ends filled, expired, refused, or gone silent. */
    const startPull = (granted: number): Pull => {
      let settle!: (how: PullEnd | Error) => void;
      const p = { inbox: `${inboxPrefix}.${++pulls}`, granted, got: 0, startedAt: scheduler.now() } as Pull;
      p.done = new Promise<PullEnd>((resolve, reject) => (settle = (how) => (how instanceof Error ? reject(how) : resolve(how))));
      const stopWatchdog = every(scheduler, 500, () => {
        const now = scheduler.now();
        if (received !== seen) [seen, heard] = [received, now];
        // Nothing at all from the server for long (seen after restarts): the consumer is made again.
        if (now - heard > expires + DEFAULTS.pullStallGraceMs) p.end("stalled");
        // Past its expiry without the server saying so: nats-server 2.9 sends no 408 for a pull it
        // expired after delivering part of it, and waits on it no more.
        else if (now - p.startedAt > expires + EXPIRY_MARGIN_MS) p.end("expired");
      });
      p.end = (how) => {
        if (p.ended) return;
        p.ended = how;
        stopWatchdog();
        if (pull === p) pull = undefined;
        settle(how);
      };
      pull = p;
      try {
        nc.publish(`${API}.CONSUMER.MSG.NEXT.${opts.stream}.${consumer}`, JSON.stringify({ batch: granted, expires: nanos(expires) }), { reply: p.inbox });
      } catch (err) {
        p.end(err as Error);
      }
      return p;
    };

    (async () => {
      let failingSince = 0;
      let failures = 0;
      const inbox = nc.subscribe(`${inboxPrefix}.*`, { callback: onMsg });
      try {
        while (!stopped && !reachedEnd) {
          // Wait for a worthwhile amount of credit rather than trickling one message at a time.
          const granted = await opts.credit.acquire(maxFetch, Math.min(maxFetch, Math.ceil(opts.credit.limit / 4)));
          if (stopped || granted === 0) {
            if (granted) opts.credit.release(granted);
            break;
          }
          let p: Pull | undefined;
          try {
            if (failure) throw failure;
            // Made again rather than found gone: the server removes a consumer left idle for INACTIVE_MS.
            if (consumer && scheduler.now() - lastPullAt > INACTIVE_MS / 2) forget();
            if (!consumer) await create();
            if (stopped) break;
            p = startPull(granted);
            lastPullAt = scheduler.now();
            const how = await p.done;
            if (how === "stalled" || how === "reset") forget();
            if (how === "stalled") opts.onRetry?.(new Error(`a pull from ${opts.stream} went silent; reading again from sequence ${nextSeq}`));
            // A pull that ended empty: no message at or after nextSeq exists.
            if (how === "expired" && p.got === 0 && opts.stopSeq !== undefined) reachedEnd = true;
            failingSince = 0;
            failures = 0;
          } catch (err) {
            failure = undefined;
            forget();
            const now = scheduler.now();
            failingSince ||= now;
            if (now - failingSince > giveUpMs) throw err;
            opts.onRetry?.(err);
            await scheduler.sleep(backoffMs(++failures, READ_BACKOFF));
          } finally {
            flush();
            const got = p?.got ?? 0;
            if (granted > got) opts.credit.release(granted - got);
          }
        }
      } finally {
        inbox.unsubscribe();
        forget();
      }
      sub.complete();
    })().catch((err) => sub.error(err));
    return () => {
      stopped = true;
      pull?.end("stopped");
    };
  });
}
