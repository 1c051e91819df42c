import { FencedError, WeirError, type ColumnType, type Row, type TableSpec } from "../contract/mod.ts";

export type { ColumnType, Row, TableSpec };

/** Rows of one flush, and how far each partition's events are reflected in them. */
export interface SinkBatch {
  /** Per table, rows in the order they were produced (the last row of a key wins). */
  rows: Map<string, Row[]>;
  /** `[partition, sequence]`: every event of the partition up to `sequence` is in this batch or before. */
  offsets: [number, number][];
  /**
   * `[partition, epoch]`: the writer's fencing epochs (its partition leases'). The transaction is
   * refused with {@link FencedError} when `weir_offsets` holds a higher epoch for any of them, and
   * stores them otherwise, so a paused old owner's late batches never land. A batch of epochs
   * alone is how a new owner claims its partitions.
   */
  epochs?: [number, number][];
}

/**
 * The SQL sink seam: one transaction per batch, rows upserted on their key columns and the applied
 * input sequence per partition recorded in `weir_offsets` in the same transaction, so after a crash
 * the runtime knows which events' rows the database already holds.
 */
export interface SqlSink {
  /** Creates missing tables (and `weir_offsets`); refuses existing tables that do not match. */
  prepare(tables: Readonly<Record<string, TableSpec>>): Promise<void>;
  /** The stored offsets of this app (`partition -> sequence`). */
  offsets(): Promise<Map<number, number>>;
  /**
   * Writes a batch in one transaction. When the database refuses rows for what they hold (a
   * constraint, a value out of range), nothing is written and {@link RowsRejectedError} lists
   * exactly those rows; any other failure is a {@link SinkError} (try again).
   */
  write(batch: SinkBatch): Promise<void>;
  /** Reads rows back (for tools and tests): all rows of a table, ordered by its key. */
  rows(table: string): Promise<Row[]>;
  close(): Promise<void>;
}

/**
 * Inside a sink transaction: refuses the batch if a partition it covers holds a higher epoch than
 * the writer's (`stored`: partition → epoch in `weir_offsets`).
 */
export function checkEpochs(epochs: readonly [number, number][], stored: ReadonlyMap<number, number>): void {
  const stale = epochs.filter(([p, e]) => (stored.get(p) ?? 0) > e);
  if (stale.length === 0) return;
  const [p, e] = stale[0]!;
  throw new FencedError(
    `partition${stale.length > 1 ? "s" : ""} ${stale.map(([q]) => q).join(", ")} belong${stale.length > 1 ? "" : "s"} to a newer owner (the database holds epoch ${stored.get(p)} for partition ${p}, this write epoch ${e}): the transaction was rolled back`,
    stale.map(([q]) => q),
  );
}

/** A write failed for another reason than the rows' content (the connection, a timeout): try again. */
export class SinkError extends WeirError {
  readonly retryable = true;
}

/** A row the database refused for its content, and the database's words. */
export interface RejectedRow {
  table: string;
  row: Row;
  reason: string;
}

/**
 * The database refused some rows of a batch for their content (nothing of the batch was written).
 * Terminal for those rows: writing them again cannot succeed, so their events are dead-lettered.
 */
export class RowsRejectedError extends WeirError {
  readonly retryable = false;
  constructor(readonly rejected: RejectedRow[]) {
    super(`the database refused ${rejected.length} row(s): ${rejected[0]?.reason ?? ""}`);
  }
}

/** A row's own failure, as opposed to the database's or the connection's. */
export class RowRejectedError extends WeirError {
  readonly retryable = false;
}

/**
 * Finds the rows a database refuses, one savepoint each inside a transaction that is rolled back:
 * `tryRow` throws for a refused row (`isRowError` tells its errors from the connection's).
 */
export async function rejectedRows(
  batch: SinkBatch,
  specs: (table: string) => TableSpec,
  tryRow: (table: string, row: Row) => Promise<void> | void,
  isRowError: (err: unknown) => boolean,
): Promise<RejectedRow[]> {
  const out: RejectedRow[] = [];
  for (const [table, rows] of batch.rows) {
    for (const row of lastPerKey(specs(table), rows)) {
      try {
        await tryRow(table, row);
      } catch (err) {
        if (!isRowError(err)) throw err;
        out.push({ table, row, reason: (err as Error).message });
      }
    }
  }
  return out;
}

/** An existing table does not match the app's declaration. Fatal: someone must migrate it. */
export class TableMismatchError extends WeirError {
  readonly retryable = false;
}

const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Checks a table declaration (names are SQL identifiers, keys are columns) so both sinks can quote
 * names without escaping.
 *
 * @example
 * checkTables({ balances: { columns: { account_id: "text", balance: "integer" }, key: ["account_id"] } });
 */
export function checkTables(tables: Readonly<Record<string, TableSpec>>): void {
  for (const [name, t] of Object.entries(tables)) {
    if (!NAME.test(name)) throw new TypeError(`table name "${name}" must match ${NAME}`);
    const cols = Object.keys(t.columns);
    if (cols.length === 0) throw new TypeError(`table ${name} declares no columns`);
    for (const c of cols) {
      if (!NAME.test(c)) throw new TypeError(`table ${name}: column name "${c}" must match ${NAME}`);
      if (!["text", "integer", "real", "boolean"].includes(t.columns[c]!)) {
        throw new TypeError(`table ${name}: column ${c} has type "${t.columns[c]}" (use text, integer, real or boolean)`);
      }
    }
    if (t.key.length === 0) throw new TypeError(`table ${name} declares no key columns`);
    for (const k of t.key) if (!(k in t.columns)) throw new TypeError(`table ${name}: key column ${k} is not among its columns`);
  }
}

/**
 * Checks a row against its table before it is buffered: a bad row is the event's error (it goes
 * to the dead-letter subject), not the whole batch's.
 */
export function checkRow(table: string, spec: TableSpec | undefined, row: Row): void {
  if (!spec) throw new TypeError(`upsert into undeclared table "${table}"`);
  for (const [c, type] of Object.entries(spec.columns)) {
    const v = row[c];
    if (v === undefined || v === null) {
      if (spec.key.includes(c)) throw new TypeError(`${table}.${c} is a key column and cannot be empty`);
      continue;
    }
    const ok =
      type === "text" ? typeof v === "string" : type === "boolean" ? typeof v === "boolean" : typeof v === "number" && (type === "real" ? Number.isFinite(v) : Number.isSafeInteger(v));
    if (!ok) throw new TypeError(`${table}.${c} must be ${type}, got ${JSON.stringify(v)}`);
  }
  for (const c of Object.keys(row)) if (!(c in spec.columns)) throw new TypeError(`${table} has no column ${c}`);
}

/** Within a batch only the last row of each key matters (and a statement may touch a key once). */
export function lastPerKey(spec: TableSpec, rows: readonly Row[]): Row[] {
  const byKey = new Map<string, Row>();
  for (const r of rows) byKey.set(JSON.stringify(spec.key.map((k) => r[k])), r);
  return [...byKey.values()];
}
