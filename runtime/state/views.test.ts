import { expect, test } from "bun:test";
import { client, startNats } from "../testing/mod.ts";
import { kvViews, memoryViews, viewKey } from "./mod.ts";
import { viewStoreContract } from "./views.contract.ts";

viewStoreContract("JetStream KV", async () => {
  const nats = await startNats();
  const c = await client(nats.url);
  return {
    views: await kvViews(c.nc, "weir_contract_views"),
    async [Symbol.asyncDispose]() {
      await c[Symbol.asyncDispose]();
      await nats[Symbol.asyncDispose]();
    },
  };
});

viewStoreContract("memory", async () => ({ views: memoryViews(), async [Symbol.asyncDispose]() {} }));

test("view keys keep prefixes: escaping is per character", () => {
  expect(viewKey("acct-1")).toBe("acct-1");
  expect(viewKey("a.b c")).toBe("a=2Eb=20c");
  expect(viewKey("a.b c/x").startsWith(viewKey("a.b c"))).toBe(true);
  expect(viewKey("é")).toBe("=C3=A9");
});
