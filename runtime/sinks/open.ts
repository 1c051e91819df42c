import { ConfigError } from "../contract/mod.ts";
import { postgresSink } from "./postgres.ts";
import { sqliteSink, type SinkOptions } from "./sqlite.ts";
import type { SqlSink } from "./sink.ts";

/**
 * Opens the sink a URL names: `sqlite:<path>` (or a bare path ending in .db) or
 * `postgres://...` / `postgresql://...` (optionally `?schema=`).
 *
 * @example
 * const sink = openSink("sqlite:./.weir/out.db", { scope: "ledger" });
 */
export function openSink(url: string, opts: SinkOptions): SqlSink {
  if (url.startsWith("sqlite:")) return sqliteSink(url.slice("sqlite:".length) || ":memory:", opts);
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) return postgresSink(url, opts);
  if (url.endsWith(".db")) return sqliteSink(url, opts);
  throw new ConfigError(`--sink must be sqlite:<path> or postgres://..., got "${url}"`);
}
