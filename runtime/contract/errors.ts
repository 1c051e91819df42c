/** Marks weir's errors across copies of this module (an app loaded from disk brings its own). */
const WEIR_ERROR = Symbol.for("weir.error");

/**
 * One error class per condition. `retryable` decides what the runtime does with an event whose
 * processing failed: terminal errors send the event to the dead-letter subject at once, retryable
 * ones are tried again (the app's `retry` policy) before it goes there.
 */
export abstract class WeirError extends Error {
  abstract readonly retryable: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
  get [WEIR_ERROR](): true {
    return true;
  }
}

/**
 * True for weir's errors, whichever copy of this module made them: the compiled binary and an app
 * it loads from disk each have their own classes, so `instanceof` cannot tell.
 */
export function isWeirError(err: unknown): err is WeirError {
  return typeof err === "object" && err !== null && (err as { [WEIR_ERROR]?: unknown })[WEIR_ERROR] === true;
}

/**
 * Thrown by a handler when its event can never succeed (invalid business data, a rule it breaks):
 * the event goes to the dead-letter subject at once, with this message as the reason, untried again.
 *
 * @example
 * if (p.currency !== acct.currency) throw new TerminalError(`account is in ${acct.currency}`);
 */
export class TerminalError extends WeirError {
  readonly retryable = false;
}

/**
 * Thrown by a handler when trying again may succeed (a service it calls is away): the event is
 * tried again after `delayMs` (else the retry policy's backoff), up to the policy's attempts.
 *
 * @example
 * if (res.status === 503) throw new RetryableError("pricing service unavailable", { delayMs: 1_000 });
 */
export class RetryableError extends WeirError {
  readonly retryable = true;
  /** Wait this long before the next attempt, instead of the policy's backoff. */
  readonly delayMs: number | undefined;
  constructor(message: string, options?: { cause?: unknown; delayMs?: number }) {
    super(message, options);
    this.delayMs = options?.delayMs;
  }
}

/** The payload could not be decoded with the codec its headers name. Terminal. */
export class DecodeError extends WeirError {
  readonly retryable = false;
}

/** The event has no usable partition key (missing field, wrong type, missing subject token). Terminal. */
export class MissingKeyError extends WeirError {
  readonly retryable = false;
}

/** The event's key cannot be used (longer than the runtime allows). Terminal. */
export class InvalidKeyError extends WeirError {
  readonly retryable = false;
}

/**
 * The event sits in a partition's stream none of its keys belongs to (its producer hashed with
 * another partition count, or not with `partitionOf`). Terminal: no actor here may take it.
 */
export class WrongPartitionError extends WeirError {
  readonly retryable = false;
}

/** The event does not match the actor's input schema. Terminal. */
export class ValidationError extends WeirError {
  readonly retryable = false;
}

/** The user's handler threw something other than weir's errors. Retryable: the failure may be transient. */
export class HandlerError extends WeirError {
  readonly retryable = true;
}

/** `ctx.emit` named a subject that the actor did not declare in `outputs`. Terminal. */
export class UndeclaredOutputError extends WeirError {
  readonly retryable = false;
}

/**
 * `ctx.emit` named a subject no message can be published to (white space or control characters,
 * an empty or wildcard token, too long): typically an untrusted key put into a subject unescaped.
 * Terminal.
 */
export class InvalidSubjectError extends WeirError {
  readonly retryable = false;
}

/** `ctx.emit` was given a value whose encoding does not fit the server's max payload. Terminal. */
export class OutputTooLargeError extends WeirError {
  readonly retryable = false;
}

/** JetStream did not store a message: no stream for its subject, a limit, or no ack after retries. */
export class PublishError extends WeirError {
  readonly retryable = false;
}

/** JetStream refused one message for what it holds (larger than the stream allows), not for the app's setup. */
export class RefusedMessageError extends PublishError {}

/**
 * An output the broker refused for its content after its event was applied: dead-lettered with
 * the output (`{ subject, value }`, header `Weir-Output-Subject`), not the event, so a redrive
 * cannot apply the event twice.
 */
export class OutputRejectedError extends WeirError {
  readonly retryable = false;
}

/** The app module or its actor definitions are unusable. Fatal at start-up. */
export class AppDefinitionError extends WeirError {
  readonly retryable = false;
}

/** Configuration or command-line input is invalid. Fatal at start-up. */
export class ConfigError extends WeirError {
  readonly retryable = false;
}

/** A stored snapshot cannot be used (unknown format version, state no longer matches its schema). */
export class SnapshotError extends WeirError {
  readonly retryable = false;
}

/** The event does not match the registered schema named by its `Weir-Schema-Id` header. Terminal. */
export class SchemaValidationError extends WeirError {
  readonly retryable = false;
}

/** The app reads event time from events, and this one has none (missing field, not a time). Terminal. */
export class EventTimeError extends WeirError {
  readonly retryable = false;
}

/** The event's `Weir-Schema-Id` header names no registered schema (or is not a number). Terminal. */
export class UnknownSchemaError extends WeirError {
  readonly retryable = false;
}

/** The schema registry refused an actor's input schema (incompatible or invalid). Fatal at start-up. */
export class SchemaRejectedError extends WeirError {
  readonly retryable = false;
}

/**
 * A write was refused because another owner holds the partition now: the stored epoch (the
 * partition lease's fencing token) is newer than the writer's. The writer's lease moved while it
 * was paused or cut off; it must drop the partition, not retry.
 */
export class FencedError extends WeirError {
  readonly retryable = false;
  constructor(
    message: string,
    /** The partitions the refused write covered. */
    readonly partitions: readonly number[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The embedded nats-server could not be started. */
export class NatsServerError extends WeirError {
  readonly retryable = false;
}

/** Human-readable one-liner for an unknown thrown value. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
