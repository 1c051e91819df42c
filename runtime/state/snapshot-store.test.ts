import { client, startNats } from "../testing/mod.ts";
import { pipelinedPublisher } from "../output/mod.ts";
import { kvSnapshotStore, memorySnapshotStore } from "./mod.ts";
import { snapshotStoreContract } from "./snapshot-store.contract.ts";

// The KV store against a real nats-server, with both ways it writes actor records.
for (const writes of ["kv.put", "pipelined"] as const) {
  snapshotStoreContract(`JetStream KV, writes via ${writes}`, async () => {
    const nats = await startNats();
    const c = await client(nats.url);
    const publisher = writes === "pipelined" ? pipelinedPublisher(c.nc) : undefined;
    const store = await kvSnapshotStore(c.nc, { bucket: "weir_contract_state", ...(publisher ? { publisher } : {}) });
    return {
      store,
      // Another instance's handle on the same bucket.
      other: () => kvSnapshotStore(c.nc, { bucket: "weir_contract_state" }),
      async [Symbol.asyncDispose]() {
        publisher?.close();
        await c[Symbol.asyncDispose]();
        await nats[Symbol.asyncDispose]();
      },
    };
  });
}

snapshotStoreContract("memory", async () => {
  const store = memorySnapshotStore();
  return { store, other: async () => store, async [Symbol.asyncDispose]() {} };
});
