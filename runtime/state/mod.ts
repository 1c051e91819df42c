// Where actor state and materialized views live between runs: the seams and their KV and
// in-memory implementations (one contract suite runs against both).
export {
  SNAPSHOT_VERSION,
  checkVersion,
  type ActorRecord,
  type ActorWrite,
  type AppConfigRecord,
  type PartitionMeta,
  type SnapshotStore,
} from "./snapshot-store.ts";
export { kvSnapshotStore, deleteSnapshotStore, type KvSnapshotStoreOptions } from "./kv-snapshot-store.ts";
export { memorySnapshotStore } from "./memory-snapshot-store.ts";
export { viewKey, type ViewStore } from "./views.ts";
export { kvViews } from "./kv-views.ts";
export { memoryViews } from "./memory-views.ts";
