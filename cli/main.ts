#!/usr/bin/env bun
import { main } from "./cli.ts";

const code = await main(process.argv.slice(2));
// Let what was written to a piped stderr/stdout reach the reader before the process goes.
await new Promise<void>((resolve) => process.stderr.write("", () => resolve()));
await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
process.exit(code);
