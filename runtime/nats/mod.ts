// NATS as weir uses it: connection options, the names of an app's streams and buckets, binding
// and creating streams, and nats-server processes (the embedded default, and test servers).
export { connectNats, connectOptions, describeNats, natsTarget, redactUrl, transientNatsError, type NatsAddress, type NatsTarget, type NatsTls } from "./connect.ts";
export { startEmbeddedNats, type EmbeddedNats } from "./embedded.ts";
export { appNames, NAMESPACE_PATTERN } from "./names.ts";
export { findNatsServer, freePort, portOpen, reloadNats, startNats, type NatsServer, type StartNatsOptions } from "./server.ts";
export { ensureAppStreams, peekSeq, type AppStreams } from "./streams.ts";
export { mappingConfig, partitionMappings, type SubjectMapping } from "./mapping.ts";
export { casConflict, hasBucket, hasStream, kvKeys } from "./kv.ts";
export { subjectBytes } from "./msg-bytes.ts";
