import {
  backoffMs,
  describeError,
  HandlerError,
  isWeirError,
  type ActorDefinition,
  type Logger,
  type RetryPolicy,
  type Scheduler,
  type Timer,
  type WeirError,
} from "../contract/mod.ts";
import { msgpackCodec } from "../route/mod.ts";
import type { SnapshotStore } from "../state/mod.ts";
import type { ActorCache, Invocation, LiveActor } from "./actors.ts";
import { HandlerContext, type ContextEnv } from "./context.ts";
import type { Effects } from "./effects.ts";
import type { TimerEntry, TimerIndex } from "./timers.ts";

/** What an invocation came to: how many outputs it emitted, or why it failed. */
export type Outcome = { emitted: number } | WeirError;

/** The outcome of most invocations (shared: outcomes are read, never changed). */
const NOTHING_EMITTED: Outcome = Object.freeze({ emitted: 0 });

/**
 * A handler's failure as the error it is dead-lettered with. weir's errors (a `TerminalError` or
 * `RetryableError` the handler threw, an undeclared output, a row that does not fit) keep their
 * class; anything else becomes a retryable HandlerError.
 */
function asFailure(err: unknown, actor: string, handler: boolean): WeirError {
  if (isWeirError(err)) return err;
  return new HandlerError(`${handler ? "handler" : "onTimer"} of ${actor} failed: ${describeError(err)}`, { cause: err });
}

/** Told when each attempt of a handler or `onTimer` starts and ends (see `ActorHostOptions.watch`). */
export interface InvocationWatch {
  /** `seq`: the event's stream sequence; -1 for a timer. */
  begin(seq: number, partition: number, def: number): void;
  end(): void;
}

/**
 * Runs handlers and `onTimer`: one invocation with its context and deadline, retries with backoff,
 * and the restore that makes a failed attempt leave no trace.
 */
export function createInvoker(env: {
  contexts: ContextEnv;
  defs: readonly ActorDefinition<unknown, unknown>[];
  cache: ActorCache;
  timers: TimerIndex;
  effects: Effects;
  store: SnapshotStore;
  scheduler: Scheduler;
  log: Logger;
  retry: Required<RetryPolicy>;
  watch?: InvocationWatch;
}) {
  const { defs, cache, timers, effects, scheduler, log, retry } = env;

  /** A successful invocation takes effect: its new state and timer changes, then (unless `replaying`) its effects. */
  const apply = (a: LiveActor, at: Invocation, ctx: HandlerContext, next: unknown, replaying: boolean): Outcome => {
    a.state = next;
    a.dirty = true;
    if (ctx.timerOps) {
      for (const [add, t] of ctx.timerOps) {
        if (add) timers.set(a, t);
        else timers.remove(a, t);
      }
    }
    if (at.expireAt !== undefined && !ctx.cleared) timers.expireLater(a, at.expireAt);
    if (replaying) return NOTHING_EMITTED;
    (a.log ??= []).push(at);
    if (ctx.cleared) cache.clear(a);
    effects.apply(a, at, ctx);
    return ctx.outputs.length === 0 ? NOTHING_EMITTED : { emitted: ctx.outputs.length };
  };

  /**
   * Runs a handler or `onTimer` for one actor with a fresh context. On success the new state, timer
   * changes and effects take effect (only the state and timers when `replaying`: restoring an
   * actor, whose effects are out already); on failure none do and the error is returned.
   */
  const invoke = (a: LiveActor, at: Invocation, replaying = false): Outcome | Promise<Outcome> => {
    const def = defs[a.def]!;
    const ctx = new HandlerContext(env.contexts, a, at);
    const handler = at.subject !== "";
    // Synchronous handlers (the common case) finish without a trip through the microtask queue.
    // The watch spans one attempt (at most the deadline when it is async), not the retries' waits.
    const watch = env.watch;
    watch?.begin(handler ? at.seq : -1, a.partition, a.def);
    let r: unknown;
    try {
      r = handler ? def.handle(a.state, at.input, ctx) : def.onTimer!(a.state, at.input as Timer, ctx);
    } catch (err) {
      watch?.end();
      return asFailure(err, def.name, handler);
    }
    if (!(r instanceof Promise)) {
      watch?.end();
      return apply(a, at, ctx, r, replaying);
    }
    const failed = (err: unknown) => asFailure(err, def.name, handler);
    // A handler that hangs past the deadline has failed; if it finishes later, its result is dropped.
    let timedOut = false;
    let cancel = () => {};
    const deadline = new Promise<WeirError>((resolve) => {
      cancel = scheduler.schedule(() => {
        timedOut = true;
        resolve(new HandlerError(`${at.subject ? "handler" : "onTimer"} of ${def.name} did not finish within ${retry.deadlineMs} ms`));
      }, retry.deadlineMs);
    });
    return Promise.race([r.then((next) => (timedOut ? failed(new Error("late result after the deadline")) : apply(a, at, ctx, next, replaying)), failed), deadline]).finally(() => {
      cancel();
      watch?.end();
    });
  };

  /**
   * Puts an actor back as it was before a failed attempt (a handler may have changed its state in
   * place before throwing): from its base, the invocations applied since are run again, without
   * effects (those are out already). The result becomes the new base, so each invocation is run
   * again at most once. Handlers are deterministic for the same reason crash recovery needs them to be.
   */
  const restore = async (a: LiveActor): Promise<void> => {
    const d = defs[a.def]!;
    let base: { state: unknown; timers?: TimerEntry[] };
    if (a.base) base = msgpackCodec.decode(a.base) as typeof base;
    else {
      const rec = a.stored ? await env.store.loadActor(d.name, a.key) : null;
      base = rec ? { state: cache.parseState(d, a.key, rec.state), ...(rec.timers ? { timers: rec.timers } : {}) } : { state: d.initial(a.key) };
    }
    a.state = base.state;
    timers.adopt(a, base.timers);
    const applied = a.log ?? [];
    a.log = undefined;
    for (const entry of applied) {
      if (Array.isArray(entry)) {
        timers.remove(a, entry);
        continue;
      }
      let r = invoke(a, entry, true);
      if (r instanceof Promise) r = await r;
      if (r instanceof Error) log.warn(`actor ${d.name}/${a.key}: an invocation that had succeeded failed when run again to restore the state (is the handler deterministic?): ${r.message}`);
    }
    a.base = msgpackCodec.encode({ state: a.state, ...(a.timers ? { timers: a.timers } : {}) });
  };

  /**
   * After a failed attempt (the `attempt`-th): puts the actor back as it was, then says what comes
   * next: the wait in ms before the next attempt (a `RetryableError`'s own delay, else exponential
   * backoff with jitter), or the final error (with the number of attempts) to dead-letter.
   */
  const afterFailure = async (a: LiveActor, r: WeirError, attempt: number): Promise<number | WeirError> => {
    await restore(a);
    if (!r.retryable || attempt >= retry.attempts) {
      if (attempt > 1) r.message = `${r.message} (after ${attempt} attempts)`;
      return r;
    }
    const asked = (r as { delayMs?: unknown }).delayMs;
    return typeof asked === "number" && asked >= 0 ? asked : backoffMs(attempt, retry);
  };

  /**
   * Runs an invocation, trying again (see `afterFailure`) while it fails with a retryable error,
   * waiting inline; the last error is returned. A failed attempt leaves no trace: the actor is
   * restored before the next one and before its dead letter. (Events are retried by the host
   * without waiting inline, so that a failing key holds back only itself.)
   */
  const invokeWithRetries = async (a: LiveActor, at: Invocation): Promise<Outcome> => {
    for (let attempt = 1; ; attempt++) {
      let r = invoke(a, at);
      if (r instanceof Promise) r = await r;
      if (!(r instanceof Error)) return r;
      const next = await afterFailure(a, r, attempt);
      if (next instanceof Error) return next;
      await scheduler.sleep(next);
    }
  };

  return { invoke, invokeWithRetries, afterFailure };
}
