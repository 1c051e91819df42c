import {
  InvalidSubjectError,
  MAX_KEY_BYTES,
  OutputTooLargeError,
  subjectMatches,
  subjectProblem,
  UndeclaredOutputError,
  ValidationError,
  type ActorDefinition,
  type AppDefinition,
  type Context,
  type Logger,
  type Row,
} from "../contract/mod.ts";
import { msgpackCodec } from "../route/mod.ts";
import { checkRow } from "../sinks/mod.ts";
import type { Invocation, LiveActor } from "./actors.ts";
import { timerTime, type TimerEntry } from "./timers.ts";

/** Room left for headers (message ids, dead-letter headers) below the server's max payload. */
const HEADER_ROOM_BYTES = 4096;
/** What `outputs` is until a handler emits. */
const NO_OUTPUTS: readonly (readonly [string, Uint8Array])[] = Object.freeze([]);
/** Subjects remembered per actor as valid and declared, before the memory is cleared. */
const KNOWN_SUBJECTS = 10_000;

/** What every handler context of one host shares. */
export interface ContextEnv {
  app: AppDefinition;
  defs: readonly ActorDefinition<unknown, unknown>[];
  log: Logger;
  /** Largest encoded output the server takes. */
  maxOutputBytes: number;
  /** Per actor: subjects already found publishable and declared (emits repeat a few subject shapes). */
  known: Set<string>[];
}

export function contextEnv(app: AppDefinition, log: Logger, maxPayload: number): ContextEnv {
  const defs = app.actors as readonly ActorDefinition<unknown, unknown>[];
  return { app, defs, log, maxOutputBytes: maxPayload - HEADER_ROOM_BYTES, known: defs.map(() => new Set()) };
}

/**
 * What a handler or `onTimer` sees besides its state and event, and what it asks for: outputs,
 * timers, rows, view values, clearing its state. Nothing it asks for takes effect unless the
 * invocation succeeds (the host then applies the ops collected here); what cannot succeed (an
 * invalid subject, an undeclared output, a row that does not fit) throws inside the handler and
 * fails the invocation.
 */
export class HandlerContext implements Context {
  readonly key: string;
  readonly partition: number;
  readonly seq: number;
  readonly time: number;
  readonly subject: string;
  readonly eventTime: number;
  readonly watermark: number;
  readonly now: number;
  readonly log: Logger;
  /** Emitted outputs: subject and encoded value (a shared empty list until the first emit). */
  get outputs(): readonly (readonly [string, Uint8Array])[] {
    return this.emitted ?? NO_OUTPUTS;
  }
  private emitted: [string, Uint8Array][] | undefined;
  // Allocated only when a handler uses them: most events set no timer, row or view.
  timerOps: [boolean, TimerEntry][] | undefined;
  rowOps: [string, Row][] | undefined;
  viewOps: [string, string, unknown][] | undefined;
  cleared = false;
  /** The methods as functions bound to this context, each made when first read (the getters below). */
  private methods: Partial<Pick<Context, "emit" | "timer" | "processingTimer" | "cancelTimer" | "clear" | "upsert" | "view">> | undefined;

  constructor(
    private readonly env: ContextEnv,
    private readonly actor: LiveActor,
    at: Invocation,
  ) {
    this.key = actor.key;
    this.partition = actor.partition;
    this.seq = at.seq;
    this.time = at.time;
    this.subject = at.subject;
    this.eventTime = at.eventTime;
    this.watermark = at.watermark;
    this.now = at.now;
    this.log = env.log;
  }

  // Handlers may pass the methods around detached from the context, so each is a function bound to
  // it; made when first read, since most handlers use one or two of them and a context lives for
  // one invocation.
  get emit(): Context["emit"] {
    return ((this.methods ??= {}).emit ??= (subject, value) => this.doEmit(subject, value));
  }
  get timer(): Context["timer"] {
    return ((this.methods ??= {}).timer ??= (time, tag = "") => void (this.timerOps ??= []).push([true, [timerTime(time, "ctx.timer"), "e", tag]]));
  }
  get processingTimer(): Context["processingTimer"] {
    return ((this.methods ??= {}).processingTimer ??= (time, tag = "") => void (this.timerOps ??= []).push([true, [timerTime(time, "ctx.processingTimer"), "p", tag]]));
  }
  get cancelTimer(): Context["cancelTimer"] {
    return ((this.methods ??= {}).cancelTimer ??= (kind, time, tag = "") => void (this.timerOps ??= []).push([false, [time, kind === "event" ? "e" : "p", tag]]));
  }
  get clear(): Context["clear"] {
    return ((this.methods ??= {}).clear ??= () => void (this.cleared = true));
  }
  get upsert(): Context["upsert"] {
    return ((this.methods ??= {}).upsert ??= (table, row) => this.doUpsert(table, row));
  }
  get view(): Context["view"] {
    return ((this.methods ??= {}).view ??= (name, key, value) => this.doView(name, key, value));
  }

  private doEmit(subject: string, value: unknown): void {
    this.checkEmit(subject);
    const data = msgpackCodec.encode(value);
    if (data.length > this.env.maxOutputBytes) {
      throw new OutputTooLargeError(`actor ${this.name} emitted ${data.length} bytes to "${subject}"; the server takes at most ${this.env.maxOutputBytes}`);
    }
    (this.emitted ??= []).push([subject, data]);
  }

  private doUpsert(table: string, row: Row): void {
    try {
      checkRow(table, this.env.app.tables?.[table], row);
    } catch (err) {
      throw new ValidationError(`actor ${this.name}: ${(err as Error).message}`);
    }
    (this.rowOps ??= []).push([table, row]);
  }

  private doView(name: string, key: string, value: unknown): void {
    const views = this.env.app.views;
    if (!views?.includes(name)) throw new ValidationError(`actor ${this.name}: view "${name}" is not among the app's views (${views?.join(", ") || "none"})`);
    if (typeof key !== "string" || key.length === 0) throw new ValidationError(`actor ${this.name}: view ${name} needs a non-empty string key`);
    if (key.length * 3 > MAX_KEY_BYTES && Buffer.byteLength(key) > MAX_KEY_BYTES) {
      throw new ValidationError(`actor ${this.name}: view ${name} key is ${Buffer.byteLength(key)} bytes long; keys are at most ${MAX_KEY_BYTES} bytes`);
    }
    (this.viewOps ??= []).push([name, key, value]);
  }

  private get name(): string {
    return this.env.defs[this.actor.def]!.name;
  }

  /** Throws the handler's error for a subject it may not emit to: not a valid subject, or not declared. */
  private checkEmit(subject: string): void {
    const known = this.env.known[this.actor.def]!;
    if (known.has(subject)) return;
    const d = this.env.defs[this.actor.def]!;
    const bad = subjectProblem(subject);
    if (bad) {
      throw new InvalidSubjectError(
        `actor ${d.name} emitted to ${JSON.stringify(subject.slice(0, 200))}${subject.length > 200 ? "…" : ""}, which is not a valid subject: ${bad} (put keys into subjects with subjectToken(key))`,
      );
    }
    if (!d.outputs.some((o) => subjectMatches(o, subject))) {
      throw new UndeclaredOutputError(`actor ${d.name} emitted to "${subject}", which is not among its outputs (${d.outputs.join(", ") || "none"})`);
    }
    if (known.size >= KNOWN_SUBJECTS) known.clear();
    known.add(subject);
  }
}
