import { spawn, type Subprocess } from "bun";
import { createServer } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { NatsServerError } from "../contract/mod.ts";

/** A nats-server process with JetStream that this process started (or reattached to). */
export interface NatsServer extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Process id of the server (changes on restart). */
  readonly pid: number;
  /** Graceful stop (SIGTERM), waits for exit. */
  stop(): Promise<void>;
  /** Hard kill (SIGKILL), waits for exit: simulates a broker crash. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and store directory. */
  restart(): Promise<void>;
}

export interface StartNatsOptions {
  /** Port to listen on; a free one when absent. */
  port?: number;
  /** JetStream store directory; a fresh temporary one (removed on dispose) when absent. */
  storeDir?: string;
  /** Path of the nats-server binary; looked up on PATH and in /usr/sbin when absent. */
  bin?: string;
  /** Extra command-line arguments for nats-server. */
  args?: string[];
  /**
   * A config file the server includes (created empty when missing), re-read by {@link reloadNats}:
   * the server then takes its settings from `nats-server.conf` beside it, which this writes.
   */
  include?: string;
  /**
   * Run the server in its own process group, so it outlives this process and a Ctrl-C aimed at
   * this process does not reach it (the embedded default). Test servers are not detached.
   */
  detached?: boolean;
}

const INSTALL_HINT = "install it (e.g. `apt-get install nats-server`), set WEIR_NATS_SERVER to its path, or pass --nats nats://host:port";

/**
 * Finds the nats-server executable: `bin`, else `$WEIR_NATS_SERVER`, else PATH, /usr/sbin,
 * /usr/local/bin. Throws a one-line error that names the fix.
 */
export function findNatsServer(bin = process.env.WEIR_NATS_SERVER || undefined): string {
  if (bin) {
    if (!existsSync(bin)) throw new NatsServerError(`no nats-server binary at ${bin}: ${INSTALL_HINT}`);
    return bin;
  }
  const fromPath = Bun.which("nats-server");
  if (fromPath) return fromPath;
  for (const candidate of ["/usr/sbin/nats-server", "/usr/local/bin/nats-server"]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new NatsServerError(`no nats-server binary found: ${INSTALL_HINT}`);
}

/** Listens on `port` of 127.0.0.1 (0: one the kernel picks) and closes again: the port listened on, or undefined when it was taken. */
function tryPort(port: number): Promise<number | undefined> {
  return new Promise((resolvePort) => {
    const srv = createServer();
    srv.once("error", () => resolvePort(undefined));
    srv.listen(port, "127.0.0.1", () => {
      const addr = srv.address();
      const got = typeof addr === "object" && addr ? addr.port : undefined;
      srv.close(() => resolvePort(got));
    });
  });
}

/** The first port the kernel hands out on its own (for connections and port 0); Linux's, else the IANA range's. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 2048 ? low : 49152;
  } catch {
    return 49152;
  }
}
/** Ports this process has handed out: never handed out twice (each names one server's listener). */
const handedOut = new Set<number>();

/**
 * A TCP port that was free a moment ago on 127.0.0.1, and that this process has not handed out
 * before. For a short-lived server (a test's), picked below the kernel's ephemeral range where it
 * can, so that neither a connection's local port nor another caller's port 0 takes it between now
 * and the server's listen (three nodes of a cluster, started at once, each ask for ports). With
 * `ephemeral`, the kernel's pick: a long-lived server (weir's embedded one) then never sits on a
 * port that a service started later expects to have.
 */
export async function freePort(opts: { ephemeral?: boolean } = {}): Promise<number> {
  const high = ephemeralLow();
  const low = Math.min(10_000, Math.floor(high / 2));
  for (let i = 0; i < (opts.ephemeral ? 0 : 100); i++) {
    const port = await tryPort(low + Math.floor(Math.random() * (high - low)));
    if (port !== undefined && !handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  // A crowded low range: the kernel's pick, still never handed out twice.
  for (;;) {
    const port = await tryPort(0);
    if (port === undefined) throw new NatsServerError("no free TCP port on 127.0.0.1");
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/**
 * Waits until the server says "Server is ready" in the part of its log written since `logFrom`
 * (the log is appended to across restarts), i.e. JetStream has recovered its streams.
 */
async function waitReady(proc: Subprocess, port: number, logFile: string, logFrom: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  const newLog = () => {
    try {
      return readFileSync(logFile).subarray(logFrom).toString("utf8");
    } catch {
      return "";
    }
  };
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) break;
    if (newLog().includes("Server is ready") && (await portOpen(port))) return;
    await Bun.sleep(25);
  }
  proc.kill("SIGKILL");
  const tail = newLog().trim().split("\n").slice(-3).join(" | ") || "no log";
  throw new NatsServerError(`nats-server did not become ready on port ${port}: ${tail}`);
}

/**
 * Makes a running nats-server re-read its config file (SIGHUP) and waits until its log says it did.
 * Throws when it says it could not (a server started without a config file cannot reload).
 */
export async function reloadNats(pid: number, logFile: string): Promise<void> {
  const from = existsSync(logFile) ? statSync(logFile).size : 0;
  process.kill(pid, "SIGHUP");
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const log = existsSync(logFile) ? readFileSync(logFile).subarray(from).toString("utf8") : "";
    if (log.includes("Reloaded server configuration")) return;
    const failed = log.split("\n").find((l) => /reload/i.test(l) && !/Reloaded/.test(l));
    if (failed) throw new NatsServerError(`nats-server (pid ${pid}) did not reload its configuration: ${failed.replace(/^\[\d+\] \S+ \S+ /, "")}`);
    await Bun.sleep(25);
  }
  throw new NatsServerError(`nats-server (pid ${pid}) did not confirm a reload of its configuration within 5 s`);
}

/** Servers that must not outlive this process, even one that exits without disposing them. */
const attached = new Set<() => Subprocess | undefined>();
process.once("exit", () => {
  for (const get of attached) {
    const p = get();
    if (p && p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  }
});

/**
 * Starts a real `nats-server -js` on 127.0.0.1 with its own store directory. Disposable, so a test
 * can write `await using nats = await startNats()` and have it stopped and cleaned up.
 *
 * @example
 * await using nats = await startNats();
 * const nc = await connect({ servers: nats.url });
 */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const bin = findNatsServer(opts.bin);
  const port = opts.port ?? (await freePort());
  const ownDir = opts.storeDir === undefined;
  const storeDir = opts.storeDir ? resolve(opts.storeDir) : mkdtempSync(join(tmpdir(), "weir-nats-"));
  mkdirSync(storeDir, { recursive: true });
  // The server logs to a file, not to a pipe: it may outlive this process (embedded default after
  // a kill -9), and a Go program writing to a broken stderr pipe dies of SIGPIPE.
  const logFile = join(storeDir, "nats-server.log");
  let proc: Subprocess | undefined;

  // With an include, everything is in a config file: a reload re-reads only the file, and would
  // turn off what only a command-line flag asked for (JetStream).
  let settings = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir];
  if (opts.include) {
    if (!existsSync(opts.include)) writeFileSync(opts.include, "");
    const conf = join(dirname(opts.include), "nats-server.conf");
    const lines = ["host: 127.0.0.1", `port: ${port}`, `jetstream { store_dir: ${JSON.stringify(storeDir)} }`, `include ${JSON.stringify(basename(opts.include))}`];
    writeFileSync(conf, `# Written by weir at each start of this server.\n${lines.join("\n")}\n`);
    settings = ["-c", conf];
  }

  const launch = async () => {
    const logFrom = existsSync(logFile) ? statSync(logFile).size : 0;
    proc = spawn(
      [bin, ...settings, "-l", logFile, ...(opts.args ?? [])],
      { stdin: "ignore", stdout: "ignore", stderr: "ignore", detached: opts.detached ?? false },
    );
    await waitReady(proc, port, logFile, logFrom);
  };
  const current = () => proc;
  if (!opts.detached) attached.add(current);
  const halt = async (signal: "SIGTERM" | "SIGKILL") => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    await proc.exited;
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return proc?.pid ?? -1;
    },
    stop: () => halt("SIGTERM"),
    kill: () => halt("SIGKILL"),
    restart: async () => {
      await halt("SIGTERM");
      await launch();
    },
    async [Symbol.asyncDispose]() {
      await halt("SIGTERM");
      attached.delete(current);
      if (ownDir) rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((r) => {
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.end();
          r(true);
        },
        data() {},
        error() {
          r(false);
        },
        connectError() {
          r(false);
        },
      },
    }).catch(() => r(false));
  });
}
