import { describe, expect, test } from "bun:test";
import { describeNats, natsTarget, redactUrl } from "./connect.ts";

describe("NATS targets", () => {
  test("credentials in URLs become fields, tls:// asks for TLS, fields given outright win", () => {
    expect(natsTarget("nats://alice:p%40ss@h1:4333")).toEqual({ servers: ["h1:4333"], user: "alice", password: "p@ss" });
    expect(natsTarget("nats://t0ken@h1")).toEqual({ servers: ["h1:4222"], token: "t0ken" });
    expect(natsTarget("tls://h1:4443, h2")).toEqual({ servers: ["h1:4443", "h2:4222"], tls: {} });
    expect(natsTarget("127.0.0.1:5222")).toEqual({ servers: ["127.0.0.1:5222"] });
    expect(natsTarget({ servers: "nats://alice:old@h1", password: "new", tls: { ca: "/ca.pem" } })).toEqual({ servers: ["h1:4222"], user: "alice", password: "new", tls: { ca: "/ca.pem" } });
    // A target is its own target (the workers get the main thread's).
    const t = natsTarget("tls://bob:pw@[::1]:4222");
    expect(natsTarget(t)).toEqual(t);
  });

  test("a bad URL, or a password without a user, is a one-line error that shows no secret", () => {
    expect(() => natsTarget("http://alice:secret@h")).toThrow('"http://alice:***@h": weir connects with nats:// or tls:// URLs, not http://');
    expect(() => natsTarget("nats://alice:secret@h:99999")).toThrow('"nats://alice:***@h:99999" is not a NATS URL');
    expect(() => natsTarget({ servers: "h", password: "secret" })).toThrow("a NATS password was given without a user");
    expect(() => natsTarget(" , ")).toThrow("no NATS server URL given");
  });

  test("redacted URLs and descriptions keep who and where, never the secret", () => {
    expect(redactUrl("nats://alice:secret@h:4222,nats://tok@h2")).toBe("nats://alice:***@h:4222,nats://***@h2");
    expect(redactUrl("nats://h:4222")).toBe("nats://h:4222");
    expect(describeNats(natsTarget("nats://alice:secret@h"))).toBe("h:4222 with user alice and a password");
    expect(describeNats(natsTarget({ servers: "tls://h", creds: "/u.creds", tls: { cert: "/c.pem", key: "/c.key" } }))).toBe("h:4222 with the credentials file /u.creds, over TLS with the client certificate /c.pem");
    expect(describeNats(natsTarget("nats://secret@h"))).toBe("h:4222 with a token");
  });
});
