import { SQL } from "bun";
import { DEFAULTS, FencedError } from "../contract/mod.ts";
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
} from "./sink.ts";
import type { SinkOptions } from "./sqlite.ts";

const TYPES: Record<ColumnType, string> = { text: "text", integer: "bigint", real: "double precision", boolean: "boolean" };
/** Bind parameters per statement stay well under PostgreSQL's 65 535. */
const MAX_PARAMS = 30_000;

/** Errors of a row's content: SQLSTATE classes 22 (data exception) and 23 (integrity constraint). */
const isRowError = (err: unknown) => /^2[23]/.test(String((err as { errno?: unknown }).errno ?? ""));
/** Ends the transaction that only looked for refused rows. */
const ROLLBACK = Symbol("rollback");

/**
 * SQL sink on PostgreSQL through `Bun.SQL`. The URL may carry `?schema=<name>`: tables (and
 * `weir_offsets`) then live in that schema, created when missing.
 *
 * @example
 * const sink = postgresSink("postgres://127.0.0.1:5432/test?schema=ledger", { scope: "ledger" });
 */
export function postgresSink(url: string, opts: SinkOptions): SqlSink {
  const u = new URL(url);
  const schema = u.searchParams.get("schema") ?? "public";
  u.searchParams.delete("schema");
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new TypeError(`schema "${schema}" must be a lower-case SQL identifier`);
  // One connection per sink (each worker has its own sink): batches are sequential anyway.
  const connectSql = () => new SQL({ url: u.toString(), max: 1 });
  let sql = connectSql();
  const prefix = opts.tablePrefix ?? "";
  const q = (table: string) => `"${schema}"."${prefix}${table}"`;
  let tables: Record<string, { cols: string[]; key: string[]; types: Record<string, ColumnType> }> = {};
  const fail = (err: unknown): never => {
    if (err instanceof TableMismatchError) throw err;
    throw new SinkError(`postgres ${u.host}/${schema}: ${(err as Error).message}`, { cause: err });
  };
  let ready: Promise<void> | undefined;
  const base = () =>
    (ready ??= (async () => {
      await sql.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await sql.unsafe(
        `CREATE TABLE IF NOT EXISTS "${schema}".weir_offsets (scope text NOT NULL, part integer NOT NULL, seq bigint NOT NULL, epoch bigint NOT NULL DEFAULT 0, PRIMARY KEY (scope, part))`,
      );
      // Databases written before fencing have no epoch column: every stored epoch is then 0.
      await sql.unsafe(`ALTER TABLE "${schema}".weir_offsets ADD COLUMN IF NOT EXISTS epoch bigint NOT NULL DEFAULT 0`);
    })());

  /** One upsert statement for some rows of a table: its text and parameters. */
  const upsertOf = (table: string, rows: readonly Row[]): [string, unknown[]] => {
    const t = tables[table]!;
    const rest = t.cols.filter((c) => !t.key.includes(c));
    const params: unknown[] = [];
    const values = rows.map((r) => `(${t.cols.map((c) => `$${params.push(r[c] ?? null)}`).join(", ")})`);
    return [
      `INSERT INTO ${q(table)} (${t.cols.map((c) => `"${c}"`).join(", ")}) VALUES ${values.join(", ")} ` +
        `ON CONFLICT (${t.key.map((k) => `"${k}"`).join(", ")}) ` +
        (rest.length ? `DO UPDATE SET ${rest.map((c) => `"${c}" = EXCLUDED."${c}"`).join(", ")}` : "DO NOTHING"),
      params,
    ];
  };
  const specOf = (table: string) => ({ columns: tables[table]!.types, key: tables[table]!.key });

  /** One batch, one transaction: upserts per table (last row per key), then the offsets. */
  const transaction = (batch: SinkBatch) =>
    sql.begin(async (tx) => {
      if (batch.epochs?.length) {
        // The rows locked until the commit: a new owner's claim waits for this transaction, or it
        // went first and this one sees its epoch.
        const stored = (await tx.unsafe(`SELECT part, epoch FROM "${schema}".weir_offsets WHERE scope = $1 FOR UPDATE`, [opts.scope])) as { part: number; epoch: string }[];
        checkEpochs(batch.epochs, new Map(stored.map((r) => [Number(r.part), Number(r.epoch)])));
        const params: unknown[] = [];
        const values = batch.epochs.map(([p, e]) => `($${params.push(opts.scope)}, $${params.push(p)}, 0, $${params.push(e)})`);
        await tx.unsafe(
          `INSERT INTO "${schema}".weir_offsets (scope, part, seq, epoch) VALUES ${values.join(", ")} ON CONFLICT (scope, part) DO UPDATE SET epoch = GREATEST(weir_offsets.epoch, EXCLUDED.epoch)`,
          params,
        );
      }
      for (const [table, all] of batch.rows) {
        const rows = lastPerKey(specOf(table), all);
        const per = Math.max(1, Math.floor(MAX_PARAMS / tables[table]!.cols.length));
        for (let i = 0; i < rows.length; i += per) await tx.unsafe(...upsertOf(table, rows.slice(i, i + per)));
      }
      if (batch.offsets.length > 0) {
        const params: unknown[] = [];
        const values = batch.offsets.map(([p, seq]) => `($${params.push(opts.scope)}, $${params.push(p)}, $${params.push(seq)})`);
        await tx.unsafe(
          `INSERT INTO "${schema}".weir_offsets (scope, part, seq) VALUES ${values.join(", ")} ON CONFLICT (scope, part) DO UPDATE SET seq = EXCLUDED.seq`,
          params,
        );
      }
    });

  /** Which rows of a refused batch the database refuses, each tried under a savepoint; then all is rolled back. */
  const refused = async (batch: SinkBatch) => {
    let found: Awaited<ReturnType<typeof rejectedRows>> = [];
    await sql
      .begin(async (tx) => {
        found = await rejectedRows(batch, specOf, (table, row) => tx.savepoint((sp) => sp.unsafe(...upsertOf(table, [row]))).then(() => {}), isRowError);
        throw ROLLBACK;
      })
      .catch((err) => {
        if (err !== ROLLBACK) throw err;
      });
    return found;
  };

  return {
    async prepare(declared) {
      checkTables(declared);
      try {
        await base();
        for (const [name, spec] of Object.entries(declared)) {
          tables[name] = { cols: Object.keys(spec.columns), key: [...spec.key], types: { ...spec.columns } };
          const existing = (await sql.unsafe(
            `SELECT c.column_name AS name, c.data_type AS type,
               EXISTS (SELECT 1 FROM information_schema.key_column_usage k JOIN information_schema.table_constraints t
                 ON t.constraint_name = k.constraint_name AND t.table_schema = k.table_schema
                 WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema AND k.table_name = c.table_name AND k.column_name = c.column_name) AS pk
             FROM information_schema.columns c WHERE c.table_schema = $1 AND c.table_name = $2`,
            [schema, `${prefix}${name}`],
          )) as { name: string; type: string; pk: boolean }[];
          if (existing.length === 0) {
            const cols = Object.entries(spec.columns).map(([c, t]) => `"${c}" ${TYPES[t]}${spec.key.includes(c) ? " NOT NULL" : ""}`);
            await sql.unsafe(`CREATE TABLE IF NOT EXISTS ${q(name)} (${cols.join(", ")}, PRIMARY KEY (${spec.key.map((k) => `"${k}"`).join(", ")}))`);
            continue;
          }
          const have = existing.map((c) => `${c.name} ${c.type}${c.pk ? " key" : ""}`).sort();
          const want = Object.entries(spec.columns).map(([c, t]) => `${c} ${TYPES[t]}${spec.key.includes(c) ? " key" : ""}`).sort();
          if (have.join(", ") !== want.join(", ")) {
            throw new TableMismatchError(`table ${schema}.${prefix}${name} has columns (${have.join(", ")}) but the app declares (${want.join(", ")}); migrate or drop it`);
          }
        }
      } catch (err) {
        fail(err);
      }
    },
    async offsets() {
      try {
        await base();
        const rows = (await sql.unsafe(`SELECT part, seq FROM "${schema}".weir_offsets WHERE scope = $1`, [opts.scope])) as { part: number; seq: string }[];
        return new Map(rows.map((r) => [Number(r.part), Number(r.seq)]));
      } catch (err) {
        return fail(err);
      }
    },
    async write(batch) {
      // A transaction whose answer never comes back (seen here: the server had committed and was
      // waiting, the client never resumed) must not stall the app: give up on the connection and
      // let the caller retry the batch on a new one. The batch is idempotent (upserts + offsets).
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new SinkError(`postgres ${u.host}/${schema}: a write did not finish within ${DEFAULTS.sinkWriteTimeoutMs} ms`)), DEFAULTS.sinkWriteTimeoutMs);
      });
      try {
        await Promise.race([
          transaction(batch).catch(async (err) => {
            const rejected = isRowError(err) ? await refused(batch) : [];
            throw rejected.length > 0 ? new RowsRejectedError(rejected) : err;
          }),
          stalled,
        ]);
      } catch (err) {
        if (err instanceof RowsRejectedError || err instanceof FencedError) throw err;
        if (err instanceof SinkError && err.message.includes("did not finish")) {
          const old = sql;
          sql = connectSql();
          old.close({ timeout: 0 }).catch(() => {});
        }
        fail(err);
      } finally {
        clearTimeout(timer);
      }
    },
    async rows(table) {
      const t = tables[table];
      if (!t) throw new TypeError(`unknown table ${table}`);
      const rows = (await sql.unsafe(`SELECT * FROM ${q(table)} ORDER BY ${t.key.map((k) => `"${k}"`).join(", ")}`)) as Row[];
      // bigint columns come back as strings.
      const ints = Object.entries(t.types).filter(([, ty]) => ty === "integer").map(([c]) => c);
      return rows.map((r) => {
        const out: Row = { ...r };
        for (const c of ints) if (out[c] !== null && out[c] !== undefined) out[c] = Number(out[c]);
        return out;
      });
    },
    async close() {
      await sql.close();
    },
  };
}
