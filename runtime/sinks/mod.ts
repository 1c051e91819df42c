// SQL sinks: the seam, SQLite and PostgreSQL behind it, and picking one from a URL at the edge
// (the CLI, a worker starting).
export {
  checkRow,
  checkTables,
  RowRejectedError,
  RowsRejectedError,
  SinkError,
  TableMismatchError,
  type ColumnType,
  type RejectedRow,
  type Row,
  type SinkBatch,
  type SqlSink,
  type TableSpec,
} from "./sink.ts";
export { sqliteSink, type SinkOptions } from "./sqlite.ts";
export { postgresSink } from "./postgres.ts";
export { openSink } from "./open.ts";
