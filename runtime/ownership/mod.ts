// Who may run an app's state: today one instance at a time, under a KV lock with a TTL; and the
// partition leases with fencing epochs that let several instances share an app's partitions.
export { desiredPartitions, quotas, type Member } from "./assignment.ts";
export { acquireInstanceLock, lockHolder, LOCK_BUCKET, LockHeldError, LockLostError, type InstanceLock, type LockOptions } from "./instance-lock.ts";
export { joinOwnership, liveMembers, type LeaseRecord, type Ownership, type OwnershipEvents, type OwnershipOptions, type OwnershipView } from "./partition-leases.ts";
