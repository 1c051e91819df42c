// The runtime's worker, except that its final snapshot fails the way a busy cluster fails it (an API
// timeout): for the runtime's handling of a stop whose final snapshot cannot be taken.
import type { FromWorker, ToWorker } from "../workers/protocol.ts";
import "../workers/worker.ts";

const handle = self.onmessage!;
self.onmessage = (e: MessageEvent<ToWorker>) => {
  if (e.data.type === "stop") self.postMessage({ type: "fatal", message: "timeout", transient: true } satisfies FromWorker);
  else handle.call(self, e);
};
