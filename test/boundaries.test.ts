import { expect, test } from "bun:test";
import { spawnSync } from "bun";
import { readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

// The tree's import rules (ARCHITECTURE.md): a product file reaches another folder only through
// that folder's mod.ts; runtime/ and schema-registry/ never import each other; apps and actors see
// only the runtime's light surfaces; test infrastructure stays out of the product.

const ROOT = join(import.meta.dir, "..");

/** Test infrastructure: free to import what it tests. */
const isTestInfra = (f: string) => /\.(test|contract)\.ts$/.test(f) || /(^|\/)(testdata|testing)\//.test(f) || f.startsWith("bench/") || f.startsWith("test/");

/** What each top-level folder's product files may import outside their own folder. */
const ALLOWED: Record<string, (target: string, from: string) => boolean> = {
  runtime: (t) => t.startsWith("runtime/") && !isTestInfra(t) && t !== "runtime/internal.ts",
  "schema-registry": (t) => t.startsWith("schema-registry/"),
  actors: (t) => t === "runtime/contract/mod.ts",
  apps: (t) => t === "actors/mod.ts" || t === "runtime/mod.ts" || t === "cli/mod.ts" || (t.startsWith("apps/") && !isTestInfra(t)),
  cli: (t, from) =>
    t.startsWith("cli/") ||
    t === "runtime/mod.ts" ||
    t === "runtime/internal.ts" ||
    t === "schema-registry/mod.ts" ||
    t === "package.json" ||
    // The binary's worker entry point starts the runtime's worker module.
    (from === "cli/worker.ts" && t === "runtime/workers/worker.ts"),
};

const SPEC = /(?:^|\s)(?:import|export)\s[^;]*?from\s+["'](\.{1,2}\/[^"']+)["']|(?:^|\s)import\s+["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/gm;

/** The relative imports of a source file, as repository paths. */
function importsOf(file: string, source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(SPEC)) out.push(normalize(join(dirname(file), (m[1] ?? m[2] ?? m[3])!)));
  return out;
}

/** Every import of a product file that breaks the rules, as `from -> to: why`. */
export function importViolations(files: ReadonlyMap<string, string>): string[] {
  const bad: string[] = [];
  for (const [file, source] of files) {
    if (isTestInfra(file)) continue;
    const top = file.split("/")[0]!;
    for (const target of importsOf(file, source)) {
      const sameFolder = dirname(target) === dirname(file);
      if (sameFolder) continue;
      const allowed = ALLOWED[top];
      if (!allowed || !allowed(target, file)) {
        bad.push(`${file} -> ${target}: ${top}/ may not import it`);
        continue;
      }
      const surface = /(^|\/)(mod|internal)\.ts$/.test(target) || target === "package.json" || (file === "cli/worker.ts" && target === "runtime/workers/worker.ts");
      if (!surface) bad.push(`${file} -> ${target}: another folder's internals (import its mod.ts)`);
    }
  }
  return bad;
}

test("no product file imports another folder's internals, nor across the folders' boundaries", () => {
  const listed = spawnSync(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.ts"], { cwd: ROOT }).stdout.toString();
  const files = new Map<string, string>();
  for (const f of listed.split("\n").filter(Boolean)) {
    try {
      files.set(f, readFileSync(join(ROOT, f), "utf8"));
    } catch {
      /* deleted in the working tree */
    }
  }
  expect(files.size).toBeGreaterThan(100);
  expect(importViolations(files)).toEqual([]);
});

test("the rules catch what they are for", () => {
  const files = new Map([
    ["runtime/host/host.ts", 'import { x } from "../state/kv-views.ts";\nimport { y } from "../state/mod.ts";'],
    ["runtime/route/router.ts", 'import { registryApi } from "../../schema-registry/mod.ts";'],
    ["schema-registry/port.ts", 'import type { P } from "../runtime/mod.ts";'],
    ["actors/windows.ts", 'import { startRuntime } from "../runtime/mod.ts";'],
    ["apps/x/main.ts", 'import { kvViews } from "../../runtime/internal.ts";\nimport { defineActor } from "../../actors/mod.ts";'],
    ["cli/run.ts", 'import { client } from "../runtime/testing/mod.ts";'],
    ["runtime/host/host.test.ts", 'import { x } from "../state/kv-views.ts";'],
  ]);
  expect(importViolations(files)).toEqual([
    "runtime/host/host.ts -> runtime/state/kv-views.ts: another folder's internals (import its mod.ts)",
    "runtime/route/router.ts -> schema-registry/mod.ts: runtime/ may not import it",
    "schema-registry/port.ts -> runtime/mod.ts: schema-registry/ may not import it",
    "actors/windows.ts -> runtime/mod.ts: actors/ may not import it",
    "apps/x/main.ts -> runtime/internal.ts: apps/ may not import it",
    "cli/run.ts -> runtime/testing/mod.ts: cli/ may not import it",
  ]);
});
