import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectOptions, freePort, portOpen, startNats, type NatsServer } from "../nats/mod.ts";

/** A real nats-server cluster with JetStream on 127.0.0.1, each node with its own store directory. */
export interface NatsCluster extends AsyncDisposable {
  readonly nodes: readonly NatsServer[];
  /** Every node's client URL, comma-separated (what `--nats` and `connect` take). */
  readonly url: string;
  /** Waits until JetStream answers on every running node (a meta leader is elected; killed nodes are skipped). */
  ready(): Promise<void>;
}

const CLUSTER_NAME = "weir-test";

/**
 * Starts `size` nodes (3 by default) routed to each other on free ports, and waits until JetStream
 * has a meta leader. Nodes can be killed (`nodes[i].kill()`) and started again (`restart()`) on the
 * same ports and store directories, so R3 streams and KV buckets lose a replica and catch up.
 *
 * @example
 * await using cluster = await startCluster();
 * const nc = await connect({ servers: cluster.url });
 */
export async function startCluster(size = 3): Promise<NatsCluster> {
  const base = mkdtempSync(join(tmpdir(), "weir-cluster-"));
  const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = routePorts.map((p) => `nats-route://127.0.0.1:${p}`).join(",");
  // Each node is started without waiting for the others: JetStream in a cluster only reports ready
  // once it can reach a quorum of its peers.
  const started = await Promise.allSettled(
    routePorts.map((routePort, i) =>
      startNats({
        storeDir: join(base, `n${i + 1}`),
        args: ["-n", `n${i + 1}`, "--cluster_name", CLUSTER_NAME, "--cluster", `nats://127.0.0.1:${routePort}`, "--routes", routes],
      }),
    ),
  );
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    // The nodes that did start are stopped too: none outlives the failed start.
    await Promise.all(started.map((r) => (r.status === "fulfilled" ? r.value[Symbol.asyncDispose]() : undefined)));
    rmSync(base, { recursive: true, force: true });
    throw failed.reason;
  }
  const nodes = started.map((r) => (r as PromiseFulfilledResult<NatsServer>).value);
  const url = nodes.map((n) => n.url).join(",");
  const cluster: NatsCluster = {
    nodes,
    url,
    async ready() {
      const deadline = Date.now() + 30_000;
      for (const node of nodes) {
        // A node that is down (killed by the test) is not waited for.
        if (!(await portOpen(node.port))) continue;
        for (;;) {
          try {
            const nc = await connect({ ...connectOptions(node.url, "weir-cluster-check"), reconnect: false });
            try {
              await (await jetstreamManager(nc, { timeout: 2_000 })).getAccountInfo();
              break;
            } finally {
              await nc.close();
            }
          } catch (err) {
            if (Date.now() > deadline) throw new Error(`cluster node ${node.url}: JetStream not ready after 30 s: ${(err as Error).message}`);
            await Bun.sleep(200);
          }
        }
      }
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(nodes.map((n) => n[Symbol.asyncDispose]()));
      rmSync(base, { recursive: true, force: true });
    },
  };
  try {
    await cluster.ready();
  } catch (err) {
    // Not handed to the caller, so not disposed by it: stopped here.
    await cluster[Symbol.asyncDispose]();
    throw err;
  }
  return cluster;
}
