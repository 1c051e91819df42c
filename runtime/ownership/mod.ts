// Who may run an app's state: the partition leases with fencing epochs that let several instances
// share an app's partitions, and the instance lock a replay runs under.
export { desiredPartitions, quotas, type Member } from "./assignment.ts";
export { acquireInstanceLock, lockHolder, LOCK_BUCKET, LockHeldError, LockLostError, type InstanceLock, type LockOptions } from "./instance-lock.ts";
export { joinOwnership, liveMembers, ownerView, type LeaseRecord, type Ownership, type OwnershipEvents, type OwnershipOptions, type OwnershipView } from "./partition-leases.ts";
