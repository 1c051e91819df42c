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

/** Names usable for streams and buckets: the app name with anything else replaced by `_`. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, "_");
}
