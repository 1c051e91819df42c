import { describe, expect, test } from "bun:test";
import { DecodeError } from "../contract/mod.ts";
import { codecFor, decodePayload, jsonCodec, msgpackCodec, type Codec } from "./codec.ts";

/** What every Codec must do, run against each in one line. */
function codecContract(codec: Codec, garbage: Uint8Array): void {
  describe(`Codec contract (${codec.contentType})`, () => {
    test("round-trips the values events hold", () => {
      for (const v of [{ a: 1, b: "ü-🔑", c: [1, 2.5, -3], d: { e: null, f: true } }, [], "x", 0, -1.5, false, null, { k: "a".repeat(10_000) }]) {
        expect(codec.decode(codec.encode(v))).toEqual(v);
      }
    });
    test("is picked by its own content type (parameters and case aside), and decodes what it encodes", () => {
      expect(codecFor(codec.contentType)).toBe(codec);
      expect(codecFor(`${codec.contentType.toUpperCase()}; charset=utf-8`)).toBe(codec);
      expect(decodePayload(codec.encode({ n: 1 }), codec.contentType)).toEqual({ n: 1 });
    });
    test("bytes it cannot read are a DecodeError, not a crash", () => {
      expect(() => decodePayload(garbage, codec.contentType)).toThrow(DecodeError);
      expect(() => decodePayload(new Uint8Array(0), codec.contentType)).toThrow(DecodeError);
    });
  });
}

codecContract(msgpackCodec, new Uint8Array([0x92, 0x01]));
codecContract(jsonCodec, new TextEncoder().encode("{not json"));

test("no content type means msgpack; an unknown one is refused", () => {
  expect(codecFor(undefined)).toBe(msgpackCodec);
  expect(() => codecFor("text/csv")).toThrow(DecodeError);
});

describe("codecs", () => {
  test("msgpack round trip; JSON by content type; unknown content type refused", () => {
    const v = { a: 1, b: ["x", null], c: { d: true } };
    expect(decodePayload(msgpackCodec.encode(v), undefined)).toEqual(v);
    expect(decodePayload(jsonCodec.encode(v), "application/json; charset=utf-8")).toEqual(v);
    expect(() => codecFor("text/csv")).toThrow(DecodeError);
    expect(() => decodePayload(new Uint8Array([0xc1]), undefined)).toThrow(DecodeError);
    expect(() => decodePayload(new TextEncoder().encode("{"), "application/json")).toThrow(DecodeError);
  });
});
