// What the runtime tells its operators: logs (metrics live on the runtime handle).
export { consoleLogger, createLogger, LOG_FORMATS, type LogFormat, type LoggerOptions, type LogLevel } from "./log.ts";
