// Test infrastructure, apart from the product: real nats-servers on free ports with their own
// store directories, a manual scheduler for virtual time, and helpers to publish, read and run.
// Tests and the app test kit import it; product code never does.
export { startNats, type NatsServer, type StartNatsOptions } from "../nats/mod.ts";
export { manualScheduler, type ManualScheduler } from "./scheduler.ts";
export {
  client,
  KILLED_LOCK_TTL,
  MAIN,
  orderWorkload,
  publishAll,
  readStream,
  rng,
  spawnWeir,
  storedCoverage,
  storedProgress,
  storedStates,
  twoInstances,
  waitFor,
  weirCli,
  type StoredMessage,
  type WeirChild,
} from "./helpers.ts";
export { PG_URL, scratchSchema } from "./pg.ts";
export { startCluster, type NatsCluster } from "./cluster.ts";
export { securedNats, type LoginMethod, type SecuredNats } from "./secured-nats.ts";
