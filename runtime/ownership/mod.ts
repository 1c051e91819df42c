// Who may run an app's state: today one instance at a time, under a KV lock with a TTL.
export { acquireInstanceLock, LOCK_BUCKET, LockHeldError, LockLostError, type InstanceLock, type LockOptions } from "./instance-lock.ts";
