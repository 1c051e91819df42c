import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { NatsServerError } from "../contract/mod.ts";
import { portOpen, startNats, type NatsServer } from "./server.ts";

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The embedded default: a nats-server for one data directory (`./.weir` unless told otherwise).
 * If a previous weir process was killed, the server it started is still running and is reused, so
 * a restart after `kill -9` reconnects to the same broker. `stop()` ends the server.
 */
export async function startEmbeddedNats(dataDir: string, bin?: string): Promise<NatsServer & { reused: boolean }> {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const stateFile = join(dir, "nats-server.json");
  if (existsSync(stateFile)) {
    try {
      const prev = JSON.parse(readFileSync(stateFile, "utf8")) as { pid: number; port: number };
      if (processAlive(prev.pid) && (await portOpen(prev.port))) {
        const stopPrev = async () => {
          try {
            process.kill(prev.pid, "SIGTERM");
          } catch {
            return;
          }
          for (let i = 0; i < 100 && processAlive(prev.pid); i++) await Bun.sleep(50);
        };
        return {
          url: `nats://127.0.0.1:${prev.port}`,
          port: prev.port,
          storeDir: join(dir, "nats"),
          pid: prev.pid,
          reused: true,
          stop: stopPrev,
          kill: stopPrev,
          restart: () => Promise.reject(new NatsServerError("cannot restart a reattached nats-server")),
          [Symbol.asyncDispose]: stopPrev,
        };
      }
    } catch {
      /* stale or unreadable state file: start a new server */
    }
  }
  // Detached: a Ctrl-C in the terminal must reach weir, which then shuts down in order while the
  // broker is still up; and after a kill -9 of weir the broker keeps its data and is reused.
  const server = await startNats({ storeDir: join(dir, "nats"), detached: true, ...(bin ? { bin } : {}) });
  writeFileSync(stateFile, JSON.stringify({ pid: server.pid, port: server.port }));
  return Object.assign(server, { reused: false });
}
