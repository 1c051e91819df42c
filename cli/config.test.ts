import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "./cli.ts"; // every command's options, which a config file's keys are checked against
import { optionsOf } from "./config.ts";
import { parse } from "./options.ts";

const dir = mkdtempSync(join(tmpdir(), "weir-config-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (toml: string) => {
  const f = join(dir, `c${n++}.toml`);
  writeFileSync(f, toml);
  return f;
};

/** What a command would run with: the value of each option asked about, and where it came from. */
function settle(command: string, args: string[], env: Record<string, string>, keys: string[]) {
  const { values, layers } = parse(args, optionsOf(command)!, command, env);
  return Object.fromEntries(keys.map((k) => [k, [(values as Record<string, unknown>)[k], layers!.sources[k]?.from ?? "not set"]]));
}

describe("settings layered: default, then file, then environment, then flag", () => {
  const base = file('log_level = "warn"\nworkers = 3\n[nats]\nurl = "nats://file:4222"\n[run]\nlog_level = "error"\n');
  test.each([
    ["the defaults alone", "run", [], {}, { "log-level": ["info", "default"], workers: [undefined, "not set"], nats: [undefined, "not set"] }],
    ["a file: top-level keys, [nats], and the command's own table over the top level", "run", ["--config", base], {}, { "log-level": ["error", "file"], workers: ["3", "file"], nats: ["nats://file:4222", "file"] }],
    ["the top level for a command without a table of its own", "replay", ["--config", base], {}, { "log-level": ["warn", "file"], workers: ["3", "file"] }],
    ["the environment over the file", "run", ["--config", base], { WEIR_LOG_LEVEL: "debug", WEIR_WORKERS: "5", NATS_URL: "nats://env:4222" }, { "log-level": ["debug", "env"], workers: ["5", "env"], nats: ["nats://env:4222", "env"] }],
    ["WEIR_NATS over NATS_URL", "status", ["--config", base], { WEIR_NATS: "nats://weir:4222", NATS_URL: "nats://env:4222" }, { nats: ["nats://weir:4222", "env"] }],
    ["flags over everything", "run", ["--config", base, "--log-level", "warn", "--workers", "7", "--nats", "nats://flag:4222"], { WEIR_LOG_LEVEL: "debug", NATS_URL: "nats://env:4222" }, { "log-level": ["warn", "flag"], workers: ["7", "flag"], nats: ["nats://flag:4222", "flag"] }],
    ["WEIR_CONFIG names the file", "run", [], { WEIR_CONFIG: base }, { workers: ["3", "file"] }],
    ["booleans from the file and the environment", "run", ["--config", file("registry = false\n")], { WEIR_PROGRESS: "yes" }, { registry: [false, "file"], progress: [true, "env"] }],
    ["a negated flag over the file", "run", ["--config", file("registry = false\n"), "--registry"], {}, { registry: [true, "flag"] }],
  ] as const)("%s", (_what, command, args, env, expected) => {
    expect(settle(command, [...args], { ...env }, Object.keys(expected)) as unknown).toEqual(expected);
  });
});

describe("bad settings: one line naming the key and the file", () => {
  test.each([
    ["an unknown key", 'wrkers = 2\n', (f: string) => `config file ${f}: unknown key "wrkers"`],
    ["an unknown [nats] key", '[nats]\nusr = "a"\n', (f: string) => `config file ${f}: unknown key "nats.usr"`],
    ["an unknown table", '[server]\nport = 1\n', (f: string) => `config file ${f}: unknown table "server"`],
    ["an unknown key in a command's table", '[registry]\nprotect = true\n', (f: string) => `config file ${f}: unknown key "protect"`],
    ["a string where true or false goes", 'registry = "yes"\n', (f: string) => `config file ${f}: "registry" must be true or false`],
    ["a list where a value goes", "workers = [1, 2]\n", (f: string) => `config file ${f}: "workers" must be a string or a number`],
    ["TOML that does not parse", "workers = \n", (f: string) => `config file ${f} is not valid TOML: `],
  ])("%s", (_what, toml, message) => {
    const f = file(toml);
    expect(() => parse(["--config", f], optionsOf("run")!, "run", {})).toThrow(message(f));
  });

  test("a missing file, and a variable that is not a boolean", () => {
    expect(() => parse(["--config", join(dir, "none.toml")], optionsOf("run")!, "run", {})).toThrow(`config file ${join(dir, "none.toml")} does not exist`);
    expect(() => parse([], optionsOf("run")!, "run", { WEIR_PROGRESS: "maybe" })).toThrow('WEIR_PROGRESS must be true or false, got "maybe"');
  });

  test("a key another command takes is not this one's error; its value does not reach this one", () => {
    // `token` is weir registry's.
    expect(settle("run", ["--config", file('token = "t"\nworkers = 2\n')], {}, ["workers"])).toEqual({ workers: ["2", "file"] });
  });
});

test("a bad value from the environment or the file is said with where it came from", () => {
  const main = new URL("./main.ts", import.meta.url).pathname;
  const app = new URL("../runtime/testdata/order-app.ts", import.meta.url).pathname;
  const run = (args: string[], env: Record<string, string>) => {
    const p = Bun.spawnSync([process.execPath, main, "run", app, "--no-http", ...args], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
    return { code: p.exitCode, err: p.stderr.toString() };
  };
  expect(run([], { WEIR_WORKERS: "many" })).toEqual({ code: 2, err: 'weir: WEIR_WORKERS (--workers) must be a positive integer, got "many"\n' });
  const f = file('workers = "many"\n');
  expect(run(["--config", f], {})).toEqual({ code: 2, err: `weir: workers in ${f} (--workers) must be a positive integer, got "many"\n` });
  expect(run(["--workers", "many"], {})).toEqual({ code: 2, err: 'weir: --workers must be a positive integer, got "many"\n' });
});
