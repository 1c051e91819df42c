import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";
import { startNats, type NatsServer } from "../nats/mod.ts";

/** How a secured test server wants clients to log in. */
export type LoginMethod = "user" | "token" | "nkey" | "creds" | "tls";

/** A nats-server that asks for one login method, with the CLI flags that pass it and flags that do not. */
export interface SecuredNats extends AsyncDisposable {
  server: NatsServer;
  /** `--nats` and the flags that log in. */
  good: string[];
  /** Flags with wrong credentials (or, for TLS, no client certificate). */
  bad: string[];
  /** Strings that must never be printed (passwords, tokens, seeds). */
  secrets: string[];
  /** The same login as `good`, for a test's own connection. */
  target: { servers: string; user?: string; password?: string; token?: string; creds?: string; nkey?: string; tls?: { ca?: string; cert?: string; key?: string } };
}

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");
const dec = new TextDecoder();

/** A NATS JWT (ed25519-nkey), issued by `issuer` about `subject`. */
function natsJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
  const claims = { jti: crypto.randomUUID().replaceAll("-", "").toUpperCase(), iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { version: 2, ...nats } };
  const body = b64url(JSON.stringify(claims));
  return `${head}.${body}.${b64url(issuer.sign(new TextEncoder().encode(`${head}.${body}`)))}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

/** Runs openssl (a CA, a server certificate for 127.0.0.1 and localhost, a client certificate signed by it). */
async function makeCertificates(dir: string): Promise<void> {
  const run = async (...args: string[]) => {
    const p = Bun.spawn(["openssl", ...args], { cwd: dir, stdout: "ignore", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${err}`);
  };
  await run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=weir test CA");
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const [name, ext] of [["server", "server.ext"], ["client", "client.ext"]] as const) {
    await run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=weir test ${name}`);
    await run("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", ext);
  }
}

/**
 * Starts a nats-server with JetStream that lets in only clients that log in the given way (TLS:
 * only clients with a certificate signed by a CA made here). Disposable.
 *
 * @example
 * await using s = await securedNats("creds");
 * await weirCli("dlq", "stats", "app", ...s.good);
 */
export async function securedNats(method: LoginMethod): Promise<SecuredNats> {
  const dir = mkdtempSync(join(tmpdir(), `weir-auth-${method}-`));
  const conf = join(dir, "auth.conf");
  const secret = `s3cret-${crypto.randomUUID()}`;
  let config = "";
  let good: string[] = [];
  let bad: string[] = [];
  const secrets = [secret];
  let target: SecuredNats["target"] = { servers: "" };
  const port = { value: 0 };
  const url = () => `nats://127.0.0.1:${port.value}`;
  if (method === "user") {
    config = `authorization { users: [{ user: alice, password: "${secret}" }] }`;
  } else if (method === "token") {
    config = `authorization { token: "${secret}" }`;
  } else if (method === "nkey") {
    const user = createUser();
    const seed = dec.decode(user.getSeed());
    writeFileSync(join(dir, "user.nk"), `${seed}\n`, { mode: 0o600 });
    writeFileSync(join(dir, "other.nk"), `${dec.decode(createUser().getSeed())}\n`, { mode: 0o600 });
    secrets.push(seed);
    config = `authorization { users: [{ nkey: ${user.getPublicKey()} }] }`;
  } else if (method === "creds") {
    const operator = createOperator();
    const sys = createAccount();
    const account = createAccount();
    const jetstream = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };
    const writeCreds = (file: string, acct: KeyPair) => {
      const user = createUser();
      const jwt = natsJwt(acct, user.getPublicKey(), "weir-test-user", { type: "user", pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
      const seed = dec.decode(user.getSeed());
      secrets.push(seed);
      writeFileSync(
        join(dir, file),
        `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
        { mode: 0o600 },
      );
    };
    writeCreds("user.creds", account);
    // Signed by an account the server does not know.
    writeCreds("other.creds", createAccount());
    const opJwt = natsJwt(operator, operator.getPublicKey(), "weir-test-operator", { type: "operator" });
    const sysJwt = natsJwt(operator, sys.getPublicKey(), "SYS", { type: "account", limits: UNLIMITED });
    const accJwt = natsJwt(operator, account.getPublicKey(), "APP", { type: "account", limits: { ...UNLIMITED, ...jetstream } });
    config = [
      `operator: ${opJwt}`,
      `system_account: ${sys.getPublicKey()}`,
      "resolver: MEMORY",
      `resolver_preload: { ${sys.getPublicKey()}: ${sysJwt}, ${account.getPublicKey()}: ${accJwt} }`,
    ].join("\n");
  } else {
    await makeCertificates(dir);
    config = `tls { cert_file: "${join(dir, "server.pem")}", key_file: "${join(dir, "server.key")}", ca_file: "${join(dir, "ca.pem")}", verify: true }`;
  }
  writeFileSync(conf, `${config}\n`);
  let server: NatsServer;
  try {
    server = await startNats({ include: conf });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  port.value = server.port;
  if (method === "user") {
    good = ["--nats", url(), "--nats-user", "alice", "--nats-password", secret];
    bad = ["--nats", url(), "--nats-user", "alice", "--nats-password", `${secret}-wrong`];
    secrets.push(`${secret}-wrong`);
    target = { servers: url(), user: "alice", password: secret };
  } else if (method === "token") {
    good = ["--nats", `nats://${secret}@127.0.0.1:${port.value}`];
    bad = ["--nats", url(), "--nats-token", `${secret}-wrong`];
    secrets.push(`${secret}-wrong`);
    target = { servers: url(), token: secret };
  } else if (method === "nkey") {
    good = ["--nats", url(), "--nats-nkey", join(dir, "user.nk")];
    bad = ["--nats", url(), "--nats-nkey", join(dir, "other.nk")];
    target = { servers: url(), nkey: join(dir, "user.nk") };
  } else if (method === "creds") {
    good = ["--nats", url(), "--nats-creds", join(dir, "user.creds")];
    bad = ["--nats", url(), "--nats-creds", join(dir, "other.creds")];
    target = { servers: url(), creds: join(dir, "user.creds") };
  } else {
    const tls = { ca: join(dir, "ca.pem"), cert: join(dir, "client.pem"), key: join(dir, "client.key") };
    good = ["--nats", `tls://127.0.0.1:${port.value}`, "--nats-ca", tls.ca, "--nats-cert", tls.cert, "--nats-key", tls.key];
    bad = ["--nats", `tls://127.0.0.1:${port.value}`, "--nats-ca", tls.ca];
    target = { servers: url(), tls };
  }
  return {
    server,
    good,
    bad,
    secrets,
    target,
    async [Symbol.asyncDispose]() {
      await server[Symbol.asyncDispose]();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
