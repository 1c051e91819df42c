// The command line as a library: `main` (what cli/main.ts runs) and the live progress line (the demo shows it too).
export { main } from "./cli.ts";
export { compact, progressLine } from "./progress.ts";
export { registryPort } from "./registry-port.ts";
