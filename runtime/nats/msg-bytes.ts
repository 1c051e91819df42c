import type { Msg } from "@nats-io/nats-core";

/**
 * A message's subject or reply subject as the bytes the client parsed it from, when the client
 * keeps them (nats.js's message does, as `_msg`); else the string (empty or absent for a message
 * without a reply). Reading numbers off the bytes costs less than decoding them to a string.
 */
export function subjectBytes(msg: Msg, which: "subject" | "reply"): string | Uint8Array | undefined {
  const raw = (msg as { _msg?: { subject?: unknown; reply?: unknown } })._msg?.[which];
  return raw instanceof Uint8Array ? raw : msg[which];
}
