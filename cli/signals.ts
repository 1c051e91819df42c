/** Calls `stop` on the first SIGINT or SIGTERM; a second one force-quits (exit 130). */
export function onSignals(stop: (sig: string) => void): void {
  let signals = 0;
  const handler = (sig: string) => {
    if (++signals > 1) process.exit(130);
    stop(sig);
  };
  process.on("SIGINT", () => handler("SIGINT"));
  process.on("SIGTERM", () => handler("SIGTERM"));
}
