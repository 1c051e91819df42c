/**
 * NATS subject matching: `*` matches one token, `>` one or more trailing tokens.
 *
 * @example
 * subjectMatches("clicks.*", "clicks.u1") // => true
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const t = p[i];
    if (t === ">") return s.length > i;
    if (i >= s.length) return false;
    if (t !== "*" && t !== s[i]) return false;
  }
  return p.length === s.length;
}

/**
 * {@link subjectMatches} for one pattern, made once and called per message: a literal compares,
 * a pattern whose only wildcard is a trailing `>` checks a prefix, others match token by token.
 *
 * @example
 * const isClick = subjectMatcher("clicks.>");
 * isClick("clicks.u1") // => true
 */
export function subjectMatcher(pattern: string): (subject: string) => boolean {
  const tokens = pattern.split(".");
  const wild = tokens.findIndex((t) => t === "*" || t === ">");
  if (wild < 0) return (subject) => subject === pattern;
  if (wild === tokens.length - 1 && tokens[wild] === ">") {
    const prefix = pattern.slice(0, -1);
    return (subject) => subject.length > prefix.length && subject.startsWith(prefix);
  }
  return (subject) => subjectMatches(pattern, subject);
}

/**
 * True when every subject matching `inner` also matches `outer` (both may hold wildcards).
 *
 * @example
 * subjectCovers("clicks.>", "clicks.*") // => true
 * subjectCovers("clicks.*", "clicks.>") // => false
 */
export function subjectCovers(outer: string, inner: string): boolean {
  const p = outer.split(".");
  const s = inner.split(".");
  for (let i = 0; i < p.length; i++) {
    const t = p[i];
    if (t === ">") return s.length > i;
    const u = s[i];
    // Only `>` covers `>` (one or more tokens), only `*` or `>` cover `*`.
    if (u === undefined || u === ">") return false;
    if (t !== "*" && (u === "*" || t !== u)) return false;
  }
  return p.length === s.length;
}

/**
 * Longest partition key, in UTF-8 bytes. Keys become parts of KV keys and subjects, and nats-server
 * drops a connection whose protocol line passes 4 KB; a longer key is that event's dead letter.
 */
export const MAX_KEY_BYTES = 1024;

/** Longest subject an actor may emit to, in UTF-8 bytes (the 4 KB protocol line holds it with room to spare). */
export const MAX_SUBJECT_BYTES = 3072;

const TOKEN_SAFE = /^[A-Za-z0-9_-]*$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A value (e.g. an untrusted key) as one subject token: characters outside `[A-Za-z0-9_-]` become
 * `=XX` (hex of each UTF-8 byte), the empty string `=`. Reversible ({@link fromSubjectToken}), and a
 * value's prefix maps to its token's prefix.
 *
 * @example
 * ctx.emit(`totals.${subjectToken(ctx.key)}`, total) // "a.b c" -> "totals.a=2Eb=20c"
 */
export function subjectToken(value: string): string {
  if (value.length > 0 && TOKEN_SAFE.test(value)) return value;
  let out = "";
  for (const b of encoder.encode(value)) {
    out += (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x5f
      ? String.fromCharCode(b)
      : `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out || "=";
}

/** The value a {@link subjectToken} stands for. */
export function fromSubjectToken(token: string): string {
  if (token === "=") return "";
  if (!token.includes("=")) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === "=") {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  return decoder.decode(new Uint8Array(bytes));
}

/**
 * Why a subject cannot be published to (undefined when it can): NATS subjects are non-empty
 * dot-separated tokens without white space or control characters, and a published subject has no
 * wildcard tokens.
 */
export function subjectProblem(subject: string): string | undefined {
  if (subject.length === 0) return "it is empty";
  const bytes = Buffer.byteLength(subject);
  if (bytes > MAX_SUBJECT_BYTES) return `it is ${bytes} bytes long (at most ${MAX_SUBJECT_BYTES})`;
  if (/[\x00-\x20\x7f]/.test(subject)) return "it contains white space or control characters";
  for (const t of subject.split(".")) {
    if (t === "") return "it has an empty token";
    if (t === "*" || t === ">") return `it has a wildcard token "${t}"`;
  }
  return undefined;
}

/** Names usable for streams and buckets: the app name with anything else replaced by `_`. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, "_");
}
