import { createLogger, type Logger, type LoggerOptions } from "../runtime/internal.ts";

let current: Logger = createLogger();

/**
 * The CLI's own log lines (an embedded server started, where HTTP is served, a signal), through
 * the logger the runtime uses: the same format and level as the app's once `weir run` or
 * `weir replay` has set them ({@link useCliLogger}).
 */
export const cliLog: Logger = {
  debug: (msg, data) => current.debug(msg, data),
  info: (msg, data) => current.info(msg, data),
  warn: (msg, data) => current.warn(msg, data),
  error: (msg, data) => current.error(msg, data),
};

export function useCliLogger(opts: LoggerOptions): void {
  current = createLogger(opts);
}
