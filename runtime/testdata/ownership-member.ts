// Test process: one member of an app's ownership group. Prints one JSON line per event
// ({"e":"acquired"|"released"|"lost", p, epoch?, t}), so a test can SIGKILL or SIGSTOP it.
import { connectNats } from "../nats/mod.ts";
import { joinOwnership } from "../ownership/mod.ts";

const [url, bucket, partitions, capacity, ttl, replicas] = process.argv.slice(2);
const nc = await connectNats(url!, "weir-ownership-member");
const say = (e: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify({ ...e, t: Date.now() })}\n`);
const own = await joinOwnership(nc, {
  bucket: bucket!,
  partitions: Number(partitions),
  capacity: Number(capacity),
  ttlMs: Number(ttl),
  replicas: Number(replicas ?? 1),
  events: {
    acquired: (p, epoch) => say({ e: "acquired", p, epoch }),
    release: async (p) => say({ e: "released", p }),
    lost: (p, reason) => say({ e: "lost", p, reason }),
  },
});
say({ e: "joined", id: own.id });
process.on("SIGTERM", () => {
  void own.stop().then(() => nc.close()).then(() => process.exit(0));
});
