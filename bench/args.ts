import { parseArgs } from "node:util";

/**
 * A bench's options: positive integers with defaults, plus --help (prints `help`, exits 0). A bad
 * value is one line on stderr and exit 2; also a parse error (unknown option).
 *
 * @example
 * const { events, repeats } = benchArgs(HELP, { events: 300_000, repeats: 3 });
 */
export function benchArgs<K extends string>(help: string, defaults: Record<K, number>): Record<K, number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries([
      ...Object.entries(defaults).map(([k, v]) => [k, { type: "string" as const, default: String(v) }]),
      ["help", { type: "boolean" as const, short: "h" }],
    ]);
    values = parseArgs({ options }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(help);
    process.exit(0);
  }
  const out = {} as Record<K, number>;
  for (const k of Object.keys(defaults) as K[]) {
    const v = Number(values[k]);
    if (!Number.isInteger(v) || v < 1) {
      process.stderr.write(`bench: --${k} must be a positive integer\n`);
      process.exit(2);
    }
    out[k] = v;
  }
  return out;
}
