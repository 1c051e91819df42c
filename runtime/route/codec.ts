import { C1, Packr } from "msgpackr";
import { DecodeError } from "../contract/mod.ts";

/** Encodes values to bytes and back. One implementation per wire format. */
export interface Codec {
  readonly contentType: string;
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

// Plain msgpack (no record extension) so that any msgpack library can read what weir writes.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export const msgpackCodec: Codec = {
  contentType: "application/msgpack",
  encode: (value) => packr.pack(value),
  decode: (bytes) => packr.unpack(bytes),
};

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

export const jsonCodec: Codec = {
  contentType: "application/json",
  encode: (value) => textEncoder.encode(JSON.stringify(value)),
  decode: (bytes) => JSON.parse(textDecoder.decode(bytes)),
};

/** The header that selects the codec of a message; absent means msgpack. */
export const CONTENT_TYPE_HEADER = "Content-Type";

/** Picks the codec for a content-type header value; msgpack when absent. */
export function codecFor(contentType: string | undefined): Codec {
  if (!contentType) return msgpackCodec;
  const base = contentType.split(";")[0]!.trim().toLowerCase();
  if (base === "application/json" || base === "text/json") return jsonCodec;
  if (base === "application/msgpack" || base === "application/x-msgpack" || base === "application/vnd.msgpack") {
    return msgpackCodec;
  }
  throw new DecodeError(`unsupported content type "${contentType}" (use application/msgpack or application/json)`);
}

/**
 * Decodes a message payload with the codec its content type names.
 * Throws {@link DecodeError} when the bytes are not valid for that codec or decode to nothing.
 */
export function decodePayload(bytes: Uint8Array, contentType: string | undefined): unknown {
  const codec = codecFor(contentType);
  if (bytes.length === 0) throw new DecodeError("empty payload");
  let value: unknown;
  try {
    value = codec.decode(bytes);
  } catch (err) {
    throw new DecodeError(`cannot decode ${codec.contentType} payload: ${(err as Error).message}`, { cause: err });
  }
  if (value === undefined) throw new DecodeError(`cannot decode ${codec.contentType} payload: no value`);
  // msgpackr hands back a marker value for the reserved byte 0xc1 instead of throwing.
  if (value === C1) throw new DecodeError(`cannot decode ${codec.contentType} payload: reserved byte 0xc1`);
  return value;
}
