import { SQL } from "bun";

/** PostgreSQL of the machine (CI starts it); each test gets its own schema, dropped afterwards. */
export const PG_URL = process.env.WEIR_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

export async function scratchSchema(): Promise<{ url: (extra?: string) => string } & AsyncDisposable> {
  const schema = `weir_t_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  return {
    url: () => `${PG_URL}?schema=${schema}`,
    async [Symbol.asyncDispose]() {
      const sql = new SQL(PG_URL);
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await sql.close();
    },
  };
}
