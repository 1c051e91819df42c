import type { Logger, LogLevel } from "../contract/mod.ts";

export type { LogLevel };

/** How log records are written: `text` (one readable line) or `json` (one object per line, for log shippers). */
export type LogFormat = "text" | "json";

export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface LoggerOptions {
  level?: LogLevel;
  format?: LogFormat;
  /** The app the records are about (a field of each JSON record; in the text prefix). */
  app?: string;
  /** Which part of the process: `worker 2` for a worker thread. */
  component?: string;
  /** Where lines go (default: stderr). */
  write?: (line: string) => void;
}

const toStderr = (line: string) => void process.stderr.write(line);

/**
 * The one logger of weir: the runtime, its workers and the CLI write through it, `level` and
 * above, one line per record on stderr. Text:
 * `2026-12-06T21:00:00.000Z WARN [weir ledger worker 1] message {"ms":1200}`; JSON:
 * `{"time":"...","level":"warn","msg":"message","app":"ledger","component":"worker 1","ms":1200}`
 * (an object's fields are the record's; any other value is its `data`).
 *
 * @example
 * const log = createLogger({ level: "info", format: "json", app: "ledger" }); log.warn("slow snapshot", { ms: 1200 });
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = ORDER[opts.level ?? "info"];
  const write = opts.write ?? toStderr;
  const json = opts.format === "json";
  const prefix = ["weir", opts.app, opts.component].filter(Boolean).join(" ");
  const line = (lvl: Exclude<LogLevel, "silent">) => (msg: string, data?: unknown) => {
    if (ORDER[lvl] < min) return;
    const time = new Date().toISOString();
    if (!json) {
      write(`${time} ${lvl.toUpperCase()} [${prefix}] ${msg}${data === undefined ? "" : ` ${safeJson(data)}`}\n`);
      return;
    }
    const fields = data === undefined ? {} : data !== null && typeof data === "object" && !Array.isArray(data) ? data : { data };
    const record = { time, level: lvl, msg, ...(opts.app ? { app: opts.app } : {}), ...(opts.component ? { component: opts.component } : {}), ...fields };
    write(`${safeJson(record)}\n`);
  };
  return { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
}

/**
 * A text logger for `level` and above (see {@link createLogger}).
 *
 * @example
 * const log = consoleLogger("silent");
 */
export function consoleLogger(level: LogLevel = "info", component?: string): Logger {
  return createLogger({ level, ...(component ? { component } : {}) });
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
