// The compiled binary's second entry point: `bun build --compile cli/main.ts cli/worker.ts` puts it
// beside the first, where the worker pool looks for `./worker.ts` relative to the binary. Run from
// source, the pool starts runtime/workers/worker.ts directly.
import "../runtime/workers/worker.ts";
