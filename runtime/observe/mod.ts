// What the runtime tells its operators: logs (metrics live on the runtime handle).
export { consoleLogger, type LogLevel } from "./log.ts";
