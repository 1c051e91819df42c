import { readFileSync } from "node:fs";
import {
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type ConnectionOptions,
  type NatsConnection,
} from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { ConfigError, describeError } from "../contract/mod.ts";

/** TLS to the server: files of the CA that signed its certificate, and of a client certificate and key when it asks for one. */
export interface NatsTls {
  ca?: string;
  cert?: string;
  key?: string;
  /** TLS before the server's INFO (a server set up with `handshake_first`). */
  first?: boolean;
}

/**
 * Where NATS is and how to prove who we are: what every connection of an app (its main thread and
 * its workers) is made from. Plain data, so it reaches the workers as it is. Secrets are kept here,
 * never in `servers`, and never printed (see {@link describeNats}).
 */
export interface NatsTarget {
  /** `host:port` of each server (credentials taken out of the URLs they came in). */
  servers: string[];
  user?: string;
  password?: string;
  token?: string;
  /** Path of a `.creds` file (a user JWT and its nkey seed, as `nsc` writes them). */
  creds?: string;
  /** Path of a file holding a user nkey seed (`SU...`). */
  nkey?: string;
  tls?: NatsTls;
  inboxPrefix?: string;
}

/** What a caller may give for a target: a URL (or comma-separated URLs), or a target with its servers as URLs. */
export type NatsAddress = string | (Omit<NatsTarget, "servers"> & { servers: string | readonly string[] });

/**
 * A URL with its credentials hidden: `nats://alice:***@host:4222`, `nats://***@host` for a token.
 *
 * @example
 * redactUrl("nats://alice:s3cret@h:4222") // "nats://alice:***@h:4222"
 */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^/@\s]*)@/g, (_, auth: string) => {
    const colon = auth.indexOf(":");
    return colon < 0 ? "//***@" : `//${auth.slice(0, colon)}:***@`;
  });
}

/**
 * The target of a URL list and options: credentials in the URLs (`nats://user:pass@host`,
 * `nats://token@host`) become fields, a `tls://` URL asks for TLS; fields given outright win over
 * what the URLs say. A malformed URL is a ConfigError that shows it redacted.
 *
 * @example
 * natsTarget("tls://alice:pw@nats.example.com") // { servers: ["nats.example.com:4222"], user: "alice", password: "pw", tls: {} }
 */
export function natsTarget(address: NatsAddress): NatsTarget {
  const given = typeof address === "string" ? { servers: address } : address;
  const list = (typeof given.servers === "string" ? given.servers.split(",") : [...given.servers]).map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new ConfigError("no NATS server URL given");
  const fromUrls: Omit<NatsTarget, "servers"> = {};
  const servers = list.map((raw) => {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `nats://${raw}`;
    let u: URL;
    try {
      u = new URL(withScheme);
    } catch {
      throw new ConfigError(`"${redactUrl(raw)}" is not a NATS URL (e.g. nats://host:4222 or tls://user:password@host:4222)`);
    }
    const scheme = u.protocol.slice(0, -1);
    if (scheme !== "nats" && scheme !== "tls") throw new ConfigError(`"${redactUrl(raw)}": weir connects with nats:// or tls:// URLs, not ${scheme}://`);
    if (scheme === "tls") fromUrls.tls = {};
    if (u.username && u.password) {
      fromUrls.user = decodeURIComponent(u.username);
      fromUrls.password = decodeURIComponent(u.password);
    } else if (u.username) fromUrls.token = decodeURIComponent(u.username);
    return `${u.hostname}:${u.port || 4222}`;
  });
  const target: NatsTarget = { servers };
  for (const k of ["user", "password", "token", "creds", "nkey", "inboxPrefix"] as const) {
    const v = given[k] ?? fromUrls[k];
    if (v !== undefined && v !== "") target[k] = v;
  }
  const tls = given.tls ?? fromUrls.tls;
  if (tls) target.tls = { ...tls };
  if (target.password !== undefined && target.user === undefined) throw new ConfigError("a NATS password was given without a user");
  return target;
}

/** How a target authenticates, said without its secrets: for the one line a refused connection gets. */
export function describeNats(t: NatsTarget): string {
  const how = t.creds
    ? `the credentials file ${t.creds}`
    : t.nkey
      ? `the nkey seed file ${t.nkey}`
      : t.user !== undefined
        ? `user ${t.user} and a password`
        : t.token !== undefined
          ? "a token"
          : "no credentials";
  const tls = t.tls ? `, over TLS${t.tls.cert ? ` with the client certificate ${t.tls.cert}` : ""}${t.tls.ca ? ` (CA ${t.tls.ca})` : ""}` : "";
  return `${t.servers.join(",")} with ${how}${tls}`;
}

const readSecretFile = (what: string, path: string): Uint8Array => {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    throw new ConfigError(`cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : describeError(err)}`);
  }
};

/** The one way a target proves who it is (the nats tooling's precedence: user and password, a creds file, an nkey seed, a token). */
function authenticator(t: NatsTarget): Authenticator | undefined {
  if (t.user !== undefined) return usernamePasswordAuthenticator(t.user, t.password);
  if (t.creds) {
    const creds = readSecretFile("NATS credentials file", t.creds);
    try {
      // Parsed now, so a bad file is said at once rather than as a refused connection.
      credsAuthenticator(creds)();
    } catch {
      throw new ConfigError(`the NATS credentials file ${t.creds} holds no user JWT and nkey seed (as nsc writes them)`);
    }
    return credsAuthenticator(creds);
  }
  if (t.nkey) {
    const text = new TextDecoder().decode(readSecretFile("nkey seed file", t.nkey));
    const seed = text.split(/\s+/).find((w) => /^SU[A-Z2-7]+$/.test(w));
    if (!seed) throw new ConfigError(`the nkey seed file ${t.nkey} holds no user seed (a line starting with SU)`);
    return nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (t.token !== undefined) return tokenAuthenticator(t.token);
  return undefined;
}

/** How long a first connection waits for the server's greeting (nats.js waits 20 s). */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * The options of every connection weir makes: reconnect for ever, and quickly (the broker is
 * usually local and comes back soon after a restart), named so `nats server report connections`
 * tells them apart, with the target's credentials and TLS.
 *
 * @example
 * const nc = await connect(connectOptions("nats://127.0.0.1:4222", "weir-ledger"));
 */
export function connectOptions(address: NatsAddress | NatsTarget, name: string): ConnectionOptions {
  const t = natsTarget(address);
  const auth = authenticator(t);
  if (t.tls) {
    for (const [what, path] of [["TLS CA file", t.tls.ca], ["TLS client certificate", t.tls.cert], ["TLS client key", t.tls.key]] as const) {
      if (path) readSecretFile(what, path);
    }
    if (Boolean(t.tls.cert) !== Boolean(t.tls.key)) throw new ConfigError("a TLS client certificate needs its key, and a key its certificate");
  }
  return {
    servers: t.servers,
    name,
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: CONNECT_TIMEOUT_MS,
    ...(auth ? { authenticator: auth } : {}),
    ...(t.tls
      ? {
          tls: {
            ...(t.tls.ca ? { caFile: t.tls.ca } : {}),
            ...(t.tls.cert ? { certFile: t.tls.cert } : {}),
            ...(t.tls.key ? { keyFile: t.tls.key } : {}),
            ...(t.tls.first ? { handshakeFirst: true } : {}),
          },
        }
      : {}),
    ...(t.inboxPrefix ? { inboxPrefix: t.inboxPrefix } : {}),
  };
}

/**
 * Connects with {@link connectOptions}. A refused or unreachable server is a one-line ConfigError
 * that says how weir tried (never with the secrets).
 *
 * @example
 * const nc = await connectNats(url, "weir-dlq");
 */
export async function connectNats(address: NatsAddress | NatsTarget, name: string, opts: ConnectWaitOptions = {}): Promise<NatsConnection> {
  const t = natsTarget(address);
  const options = connectOptions(t, name);
  for (let attempt = 1; ; attempt++) {
    try {
      const nc = await connect(options);
      if (attempt > 1) opts.onWait?.(`connected to NATS at ${t.servers.join(",")}`);
      return nc;
    } catch (err) {
      const why = `cannot connect to NATS at ${describeNats(t)}: ${connectFailure(err, t)}`;
      // Credentials and TLS set-up are the user's to fix; only an absent or silent server is waited for.
      // (A TLS server that wants a client certificate is silent too: that one is said at once.)
      const away = (err as Error).name === "ConnectionError" || ((err as Error).name === "TimeoutError" && !(t.tls && !t.tls.cert));
      if (!opts.wait || !away) throw new ConfigError(why, { cause: err });
      if (attempt === 1) opts.onWait?.(`${why}; waiting for it`);
      await Bun.sleep(Math.min(2_000, 250 * attempt));
    }
  }
}

export interface ConnectWaitOptions {
  /** A server that is not up (refused, or silent) is waited for, however long, instead of failing (a long-running app). */
  wait?: boolean;
  /** Told once when the wait starts, and once when it ends. */
  onWait?: (line: string) => void;
}

/** What went wrong, in words (TLS failures come as bare Node error codes). */
function connectFailure(err: unknown, t: NatsTarget): string {
  const code = (err as { code?: unknown }).code;
  const m = describeError(err);
  // A server that verifies clients drops one without a certificate during the handshake, which
  // the client only sees as no answer.
  if ((err as Error).name === "TimeoutError" && t.tls && !t.tls.cert) {
    return `no answer within ${CONNECT_TIMEOUT_MS / 1000} s over TLS: a server that verifies clients wants a client certificate (--nats-cert, --nats-key)`;
  }
  if (code === "DEPTH_ZERO_SELF_SIGNED_CERT" || code === "SELF_SIGNED_CERT_IN_CHAIN" || code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE" || code === "UNABLE_TO_GET_ISSUER_CERT_LOCALLY") {
    return `the server's TLS certificate is not signed by a CA we trust (${code}; give the CA with --nats-ca)`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return `the server's TLS certificate is not for this host name (${m})`;
  if (code === "EBADF" || code === "ECONNRESET" || /certificate required|alert/i.test(m)) return `the TLS handshake failed: the server may require a client certificate (--nats-cert, --nats-key) (${m})`;
  return m;
}

/** nats.js errors of a broker that is away or busy for a while (a node restarting, a leader moving, a lost connection). */
const TRANSIENT = new Set(["TimeoutError", "ConnectionError", "ClosedConnectionError", "DrainingConnectionError", "NoResponders", "RequestError", "JetStreamNotEnabled"]);

/**
 * Whether an error is the broker's, and passing: trying again later (from the snapshots) can
 * succeed. JetStream's "temporarily unavailable" (503) counts; its other API errors do not.
 *
 * @example
 * transientNatsError(new TimeoutError()) // true
 */
export function transientNatsError(err: unknown): boolean {
  const e = err as { name?: unknown; status?: unknown; code?: unknown } | null;
  if (!e || typeof e !== "object") return false;
  if (typeof e.name === "string" && TRANSIENT.has(e.name)) return true;
  return e.name === "JetStreamApiError" && (e.status === 503 || e.code === 10008);
}
