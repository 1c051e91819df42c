import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { ActorDefinition, AppDefinition } from "./app.ts";
import { partitionsOf } from "./config.ts";
import { AppDefinitionError } from "./errors.ts";

function isActor(v: unknown): v is ActorDefinition {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "weir.actor";
}

function isApp(v: unknown): v is AppDefinition {
  return typeof v === "object" && v !== null && (v as { kind?: unknown }).kind === "weir.app";
}

/** Absolute file URL of an app module given on the command line. */
export function appModuleUrl(path: string): string {
  return pathToFileURL(isAbsolute(path) ? path : resolve(process.cwd(), path)).href;
}

/**
 * Imports an app module and checks its shape: the default export (or an export named `app`) must
 * come from `defineApp`.
 *
 * @example
 * const app = await loadApp("./apps/user-totals/main.ts");
 */
export async function loadApp(path: string): Promise<AppDefinition> {
  let mod: Record<string, unknown>;
  try {
    mod = await import(appModuleUrl(path));
  } catch (err) {
    throw new AppDefinitionError(`cannot load app module ${path}: ${(err as Error).message}`, { cause: err });
  }
  const app = mod.default ?? mod.app;
  if (!isApp(app)) {
    throw new AppDefinitionError(`${path} must export default defineApp({ name, actors: [...] })`);
  }
  checkApp(app, path);
  return app;
}

function checkApp(app: AppDefinition, path: string): void {
  if (!Array.isArray(app.actors) || app.actors.length === 0) {
    throw new AppDefinitionError(`app ${app.name} (${path}) has no actors`);
  }
  for (const a of app.actors) {
    if (!isActor(a)) throw new AppDefinitionError(`app ${app.name}: every actor must come from defineActor`);
    for (const s of a.input) {
      if (typeof s !== "string" || s.length === 0 || /\s/.test(s)) {
        throw new AppDefinitionError(`actor ${a.name}: invalid input subject "${String(s)}"`);
      }
    }
  }
  partitionsOf(app);
}
