import { describe, expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import { startNats } from "../runtime/testing/mod.ts";
import { client, json, startRegistry } from "./testdata/helpers.ts";

const MAIN = new URL("../cli/main.ts", import.meta.url).pathname;

/** `weir registry` as a separate OS process on port 0; resolves with its URL (its first stdout line). */
async function registryProcess(natsUrl: string): Promise<{ url: string; proc: Subprocess }> {
  const proc = spawn([process.execPath, MAIN, "registry", "--nats", natsUrl, "--http", "127.0.0.1:0"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`weir registry exited: ${await new Response(proc.stderr as ReadableStream).text()}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { url: text.split("\n")[0]!.trim(), proc };
}

describe("registry durability (real nats-server)", () => {
  test("a registry restart (and a broker crash) loses nothing and reuses no id", async () => {
    await using nats = await startNats();
    const before: unknown[] = [];
    {
      await using r = await startRegistry({}, nats);
      const call = client(r.url);
      await call("PUT", "/config/b-value", { compatibility: "NONE" });
      await call("POST", "/subjects/a-value/versions", json({ type: "object" }));
      await call("POST", "/subjects/b-value/versions", json({ type: "string" }));
      await call("POST", "/subjects/b-value/versions", json({ type: "number" }));
      await call("DELETE", "/subjects/b-value/versions/1");
      for (const path of ["/subjects?deleted=true", "/subjects/b-value/versions?deleted=true", "/subjects/b-value/versions/2", "/schemas/ids/1", "/config/b-value"]) {
        before.push((await call("GET", path)).body);
      }
    }
    await nats.kill();
    await nats.restart();
    await using r2 = await startRegistry({}, nats);
    const call = client(r2.url);
    const after: unknown[] = [];
    for (const path of ["/subjects?deleted=true", "/subjects/b-value/versions?deleted=true", "/subjects/b-value/versions/2", "/schemas/ids/1", "/config/b-value"]) {
      after.push((await call("GET", path)).body);
    }
    expect(after).toEqual(before);
    expect(before[0]).toEqual(["a-value", "b-value"]);
    expect((await call("POST", "/subjects/c-value/versions", json({ type: "boolean" }))).body).toMatchObject({ id: 4, version: 1 });
  });

  test("two registry processes on one NATS agree on ids and versions under concurrent writes", async () => {
    await using nats = await startNats();
    const a = await registryProcess(nats.url);
    const b = await registryProcess(nats.url);
    try {
      const ca = client(a.url);
      const cb = client(b.url);
      expect((await ca("PUT", "/config/shared", { compatibility: "NONE" })).status).toBe(200);
      // 40 distinct schemas registered at once, alternating between the two processes, and each
      // one sent twice (once to each process) so both race to allocate its id.
      const schemas = Array.from({ length: 40 }, (_, i) => ({ type: "object", title: `schema ${i}` }));
      const answers = await Promise.all(
        schemas.flatMap((s, i) => [
          (i % 2 ? ca : cb)("POST", "/subjects/shared/versions", json(s)),
          (i % 2 ? cb : ca)("POST", "/subjects/shared/versions", json(s)),
        ]),
      );
      for (const ans of answers) expect(ans.status).toBe(200);
      for (let i = 0; i < schemas.length; i++) {
        // Both sends of one schema got the same id and version.
        expect(answers[2 * i]!.body).toEqual(answers[2 * i + 1]!.body);
      }
      const ids = new Set(answers.map((x) => x.body.id));
      const versions = new Set(answers.map((x) => x.body.version));
      expect(ids.size).toBe(40);
      expect([...versions].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      const listA = (await ca("GET", "/subjects/shared/versions")).body;
      expect(listA).toEqual((await cb("GET", "/subjects/shared/versions")).body);
      expect(listA).toHaveLength(40);
      for (const ans of answers.slice(0, 6)) {
        expect((await cb("GET", `/schemas/ids/${ans.body.id}`)).body.schema).toBe(ans.body.schema);
        expect((await ca("GET", `/subjects/shared/versions/${ans.body.version}`)).body.id).toBe(ans.body.id);
      }
    } finally {
      a.proc.kill();
      b.proc.kill();
      await Promise.all([a.proc.exited, b.proc.exited]);
    }
  });
});
