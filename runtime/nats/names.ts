import { safeName } from "../contract/mod.ts";

/**
 * Replay namespaces: a letter, then letters, digits or `_` (they become part of subjects, stream,
 * bucket and table names). `live` names the live app's own outputs.
 */
export const NAMESPACE_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

/**
 * Names derived from the app name (streams, buckets, dead-letter subject, prefix of output
 * subjects); a replay namespace gets its own set, the live app's is without one.
 *
 * @example
 * appNames("ledger").bucket // => "weir_ledger_state"
 * appNames("ledger", "fix1").outputPrefix // => "fix1."
 */
export function appNames(appName: string, namespace?: string) {
  const app = safeName(appName);
  const n = namespace ? `${app}__${namespace}` : app;
  return {
    input: `weir_${n}_in`,
    output: `weir_${n}_out`,
    dlq: `weir_${n}_dlq`,
    dlqSubject: namespace ? `weir.dlq.${app}.${namespace}` : `weir.dlq.${app}`,
    bucket: `weir_${n}_state`,
    views: `weir_${n}_views`,
    /** KV bucket of the instances sharing the app's partitions and of the partitions' leases. */
    owners: `weir_${n}_owners`,
    /** KV bucket of the markers `weir dlq redrive` leaves (each dead letter is sent again once). */
    redrive: `weir_${n}_redrive`,
    /**
     * Partitioned input: partition p's events are published to `<inputPrefix>.<p>.<subject>` (the
     * subject the producer meant), so one partition is read without reading the others.
     */
    inputPrefix: namespace ? `weir.in.${app}.${namespace}` : `weir.in.${app}`,
    /** The stream of partition p's input (`<inputPrefix>.<p>.>`): one per partition, so a partition is read alone, unfiltered. */
    partitionStream: (p: number) => `weir_${n}_in_${p}`,
    /** Prepended to every output subject the app's actors emit to. */
    outputPrefix: namespace ? `${namespace}.` : "",
    /** SQL sink: whose offsets (`weir_offsets.scope`) and the prefix of every table name. */
    sinkScope: namespace ? `${appName}/${namespace}` : appName,
    tablePrefix: namespace ? `${namespace}_` : "",
  };
}
