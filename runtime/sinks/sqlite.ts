import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { FencedError } from "../contract/mod.ts";
import {
  checkEpochs,
  checkTables,
  lastPerKey,
  rejectedRows,
  RowsRejectedError,
  SinkError,
  TableMismatchError,
  type ColumnType,
  type Row,
  type SinkBatch,
  type SqlSink,
  type TableSpec,
} from "./sink.ts";

const TYPES: Record<ColumnType, string> = { text: "TEXT", integer: "INTEGER", real: "REAL", boolean: "INTEGER" };

/** Errors of a row's content (constraints, triggers' RAISE, sizes), not of the database. */
const isRowError = (err: unknown) => /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG)/.test(String((err as { code?: unknown }).code ?? ""));

export interface SinkOptions {
  /** Whose offsets these are (app name, plus namespace for replays). */
  scope: string;
  /** Prepended to every table name (replay namespaces). */
  tablePrefix?: string;
}

/**
 * SQL sink on SQLite through `bun:sqlite`, WAL mode; each worker opens its own connection and
 * writes in `BEGIN IMMEDIATE` transactions (a busy timeout lets them take turns).
 *
 * @example
 * const sink = sqliteSink("./.weir/out.db", { scope: "ledger" });
 */
export function sqliteSink(path: string, opts: SinkOptions): SqlSink {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { create: true });
  // The busy timeout first: switching to WAL takes a lock another connection may hold.
  db.exec("PRAGMA busy_timeout = 10000;");
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
  db.exec("CREATE TABLE IF NOT EXISTS weir_offsets (scope TEXT NOT NULL, part INTEGER NOT NULL, seq INTEGER NOT NULL, epoch INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (scope, part))");
  // Databases written before fencing have no epoch column: every stored epoch is then 0.
  if (!(db.query("PRAGMA table_info(weir_offsets)").all() as { name: string }[]).some((c) => c.name === "epoch")) {
    db.exec("ALTER TABLE weir_offsets ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0");
  }
  const prefix = opts.tablePrefix ?? "";
  let tables: Readonly<Record<string, TableSpec>> = {};
  /** Per table: its upsert statement and a row's values in column order. */
  const writers = new Map<string, (r: Row) => void>();
  const setOffset = db.prepare("INSERT INTO weir_offsets (scope, part, seq) VALUES (?, ?, ?) ON CONFLICT (scope, part) DO UPDATE SET seq = excluded.seq");
  const getEpochs = db.prepare("SELECT part, epoch FROM weir_offsets WHERE scope = ?");
  const setEpoch = db.prepare(
    "INSERT INTO weir_offsets (scope, part, seq, epoch) VALUES (?, ?, 0, ?) ON CONFLICT (scope, part) DO UPDATE SET epoch = max(epoch, excluded.epoch)",
  );

  const value = (v: Row[string] | undefined) => (v === undefined ? null : typeof v === "boolean" ? (v ? 1 : 0) : v);
  const put = (table: string, r: Row) => {
    let write = writers.get(table);
    if (!write) {
      const spec = tables[table]!;
      const cols = Object.keys(spec.columns);
      const rest = cols.filter((c) => !spec.key.includes(c));
      const st = db.prepare(
        `INSERT INTO "${prefix}${table}" (${cols.map((c) => `"${c}"`).join(", ")}) VALUES (${cols.map(() => "?").join(", ")}) ` +
          `ON CONFLICT (${spec.key.map((k) => `"${k}"`).join(", ")}) ` +
          (rest.length ? `DO UPDATE SET ${rest.map((c) => `"${c}" = excluded."${c}"`).join(", ")}` : "DO NOTHING"),
      );
      write = (row) => void st.run(...cols.map((c) => value(row[c])));
      writers.set(table, write);
    }
    write(r);
  };

  /** Which rows of a refused batch the database refuses, each tried under a savepoint; then all is rolled back. */
  const refused = async (batch: SinkBatch) => {
    db.exec("BEGIN IMMEDIATE");
    try {
      return await rejectedRows(
        batch,
        (t) => tables[t]!,
        (table, row) => {
          db.exec("SAVEPOINT weir_row");
          try {
            put(table, row);
          } catch (err) {
            db.exec("ROLLBACK TO weir_row");
            throw err;
          } finally {
            db.exec("RELEASE weir_row");
          }
        },
        isRowError,
      );
    } finally {
      db.exec("ROLLBACK");
    }
  };

  return {
    async prepare(declared) {
      checkTables(declared);
      tables = declared;
      for (const [name, spec] of Object.entries(declared)) {
        const full = `${prefix}${name}`;
        const existing = db.query(`PRAGMA table_info("${full}")`).all() as { name: string; type: string; pk: number }[];
        if (existing.length === 0) {
          const cols = Object.entries(spec.columns).map(([c, t]) => `"${c}" ${TYPES[t]}${spec.key.includes(c) ? " NOT NULL" : ""}`);
          db.exec(`CREATE TABLE "${full}" (${cols.join(", ")}, PRIMARY KEY (${spec.key.map((k) => `"${k}"`).join(", ")}))`);
          continue;
        }
        const have = existing.map((c) => `${c.name} ${c.type.toUpperCase()}${c.pk ? " key" : ""}`).sort();
        const want = Object.entries(spec.columns).map(([c, t]) => `${c} ${TYPES[t]}${spec.key.includes(c) ? " key" : ""}`).sort();
        if (have.join(", ") !== want.join(", ")) {
          throw new TableMismatchError(`table ${full} in ${path} has columns (${have.join(", ")}) but the app declares (${want.join(", ")}); migrate or drop it`);
        }
      }
    },
    async offsets() {
      const rows = db.query("SELECT part, seq FROM weir_offsets WHERE scope = ?").all(opts.scope) as { part: number; seq: number }[];
      return new Map(rows.map((r) => [r.part, r.seq]));
    },
    async write(batch) {
      try {
        db.transaction(() => {
          // BEGIN IMMEDIATE holds the write lock: no other writer lands between this check and the commit.
          if (batch.epochs?.length) {
            const stored = getEpochs.all(opts.scope) as { part: number; epoch: number }[];
            checkEpochs(batch.epochs, new Map(stored.map((r) => [r.part, r.epoch])));
            for (const [p, e] of batch.epochs) setEpoch.run(opts.scope, p, e);
          }
          for (const [table, rows] of batch.rows) for (const r of lastPerKey(tables[table]!, rows)) put(table, r);
          for (const [p, seq] of batch.offsets) setOffset.run(opts.scope, p, seq);
        }).immediate();
      } catch (err) {
        if (err instanceof FencedError) throw err;
        const rejected = isRowError(err) ? await refused(batch) : [];
        if (rejected.length > 0) throw new RowsRejectedError(rejected);
        throw new SinkError(`sqlite ${path}: ${(err as Error).message}`, { cause: err });
      }
    },
    async rows(table) {
      const spec = tables[table];
      if (!spec) throw new TypeError(`unknown table ${table}`);
      const rows = db.query(`SELECT * FROM "${prefix}${table}" ORDER BY ${spec.key.map((k) => `"${k}"`).join(", ")}`).all() as Row[];
      const bools = Object.entries(spec.columns).filter(([, t]) => t === "boolean").map(([c]) => c);
      for (const r of rows) for (const c of bools) if (r[c] !== null) r[c] = r[c] === 1;
      return rows;
    },
    async close() {
      db.close();
    },
  };
}
