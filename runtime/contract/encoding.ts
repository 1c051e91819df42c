/**
 * base64url without padding: how keys (which may hold any character) become parts of KV keys and
 * message ids.
 *
 * @example
 * base64url.encode("a.b c") // "YS5iIGM"
 */
export const base64url = {
  encode: (s: string): string => Buffer.from(s, "utf8").toString("base64url"),
  decode: (s: string): string => Buffer.from(s, "base64url").toString("utf8"),
};
