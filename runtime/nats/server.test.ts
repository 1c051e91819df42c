import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { freePort } from "./server.ts";

test("free ports asked for at once are distinct, listenable, and below the kernel's ephemeral range", async () => {
  // As three cluster nodes do at start: route ports first, then each node's client port, concurrently.
  const ports = (await Promise.all(Array.from({ length: 3 }, () => freePort()))).concat(await Promise.all(Array.from({ length: 60 }, () => freePort())));
  expect(new Set(ports).size).toBe(ports.length);
  const ephemeralLow = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  for (const p of ports) expect(p).toBeLessThan(ephemeralLow);
  const listening = await Promise.all(
    ports.map(
      (p) =>
        new Promise<boolean>((resolve) => {
          const srv = createServer();
          srv.once("error", () => resolve(false));
          srv.listen(p, "127.0.0.1", () => srv.close(() => resolve(true)));
        }),
    ),
  );
  expect(listening.every(Boolean)).toBe(true);
});
