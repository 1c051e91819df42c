import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError, NatsServerError } from "../contract/mod.ts";
import { mappingConfig, type SubjectMapping } from "./mapping.ts";
import { freePort, portOpen, reloadNats, startNats, type NatsServer } from "./server.ts";

/** The embedded server as weir uses it: reattached after a kill -9 of weir, and its input mappings set per app. */
export interface EmbeddedNats extends NatsServer {
  /** The server was running already (left by a weir that was killed, or another command's). */
  reused: boolean;
  /**
   * Sets (or with undefined, removes) the subject mappings that partition an app's input on this
   * server (see `partitionMappings`), kept in the data directory beside those of the other apps
   * that use it, and reloads the server when they changed. True when they changed.
   */
  mapInput(app: string, mappings: readonly SubjectMapping[] | undefined): Promise<boolean>;
  /**
   * This process is done with the server: one it started (or adopted from a weir that was killed)
   * stops unless another live process uses it; one another live process started keeps running.
   */
  release(): Promise<void>;
}

/**
 * The processes using a data directory's server, one empty file per pid under `nats-users/`. The
 * last one to let go stops it when it started the server or the one that did is gone (killed, or
 * stopped while others used it); a server whose starter still runs keeps running for it.
 */
function serverUsers(dir: string, stateFile: string) {
  const users = join(dir, "nats-users");
  mkdirSync(users, { recursive: true });
  const mine = join(users, String(process.pid));
  writeFileSync(mine, "");
  const others = () =>
    readdirSync(users)
      .map(Number)
      .filter((pid) => Number.isInteger(pid) && pid !== process.pid && processAlive(pid));
  return {
    async release(stop: () => Promise<void>) {
      rmSync(mine, { force: true });
      let owner: number | undefined;
      try {
        owner = (JSON.parse(readFileSync(stateFile, "utf8")) as { owner?: number }).owner;
      } catch {
        owner = undefined;
      }
      if (others().length === 0 && (owner === undefined || owner === process.pid || !processAlive(owner))) await stop();
    },
  };
}

/**
 * The data directory's mappings, by app, after setting `app`'s: refuses a source subject another
 * app maps already (one subject goes one way on a server).
 */
function mappingsWith(file: string, app: string, mappings: readonly SubjectMapping[] | undefined): Record<string, SubjectMapping[]> {
  const all: Record<string, SubjectMapping[]> = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : {};
  delete all[app];
  for (const m of mappings ?? []) {
    for (const [other, theirs] of Object.entries(all)) {
      if (theirs.some((t) => t.from === m.from)) throw new ConfigError(`the embedded nats-server maps ${m.from} for app ${other} already: it cannot map it for app ${app} too`);
    }
  }
  if (mappings?.length) all[app] = [...mappings];
  return all;
}

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
 * a restart after `kill -9` reconnects to the same broker (and adopts it). `stop()` ends the
 * server; `release()` ends it only when this process owns it and no other uses it.
 */
export async function startEmbeddedNats(dataDir: string, bin?: string): Promise<EmbeddedNats> {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const stateFile = join(dir, "nats-server.json");
  const byApp = join(dir, "nats-mappings.json");
  const include = join(dir, "nats-mappings.conf");
  const logFile = join(dir, "nats", "nats-server.log");
  const mapInput = (pid: () => number) => async (app: string, mappings: readonly SubjectMapping[] | undefined) => {
    const all = mappingsWith(byApp, app, mappings);
    const list = Object.values(all).flat();
    const conf = list.length ? mappingConfig(list) : "";
    if ((existsSync(include) ? readFileSync(include, "utf8") : "") === conf) return false;
    writeFileSync(byApp, JSON.stringify(all, null, 2));
    writeFileSync(include, conf);
    await reloadNats(pid(), logFile);
    return true;
  };
  if (existsSync(stateFile)) {
    try {
      const prev = JSON.parse(readFileSync(stateFile, "utf8")) as { pid: number; port: number; owner?: number };
      if (processAlive(prev.pid) && (await portOpen(prev.port))) {
        const stopPrev = async () => {
          try {
            process.kill(prev.pid, "SIGTERM");
          } catch {
            return;
          }
          for (let i = 0; i < 100 && processAlive(prev.pid); i++) await Bun.sleep(50);
        };
        const users = serverUsers(dir, stateFile);
        return {
          url: `nats://127.0.0.1:${prev.port}`,
          port: prev.port,
          storeDir: join(dir, "nats"),
          pid: prev.pid,
          reused: true,
          mapInput: mapInput(() => prev.pid),
          stop: stopPrev,
          kill: stopPrev,
          restart: () => Promise.reject(new NatsServerError("cannot restart a reattached nats-server")),
          [Symbol.asyncDispose]: stopPrev,
          release: () => users.release(stopPrev),
        };
      }
    } catch {
      /* stale or unreadable state file: start a new server */
    }
  }
  // Detached: a Ctrl-C in the terminal must reach weir, which then shuts down in order while the
  // broker is still up; and after a kill -9 of weir the broker keeps its data and is reused.
  const server = await startNats({ storeDir: join(dir, "nats"), port: await freePort({ ephemeral: true }), detached: true, include, ...(bin ? { bin } : {}) });
  writeFileSync(stateFile, JSON.stringify({ pid: server.pid, port: server.port, owner: process.pid }));
  const users = serverUsers(dir, stateFile);
  return Object.assign(server, { reused: false, mapInput: mapInput(() => server.pid), release: () => users.release(() => server.stop()) });
}
