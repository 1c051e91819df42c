import type { Logger, LogLevel } from "../contract/mod.ts";

export type { LogLevel };

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * A logger that writes one line per record to stderr, `level` and above.
 *
 * @example
 * const log = consoleLogger("info", "weir"); log.warn("slow snapshot", { ms: 1200 });
 */
export function consoleLogger(level: LogLevel = "info", prefix = "weir"): Logger {
  const min = ORDER[level];
  const line = (lvl: Exclude<LogLevel, "silent">) => (msg: string, data?: unknown) => {
    if (ORDER[lvl] < min) return;
    const extra = data === undefined ? "" : ` ${safeJson(data)}`;
    process.stderr.write(`${new Date().toISOString()} ${lvl.toUpperCase()} [${prefix}] ${msg}${extra}\n`);
  };
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
