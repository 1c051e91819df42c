import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { freePort } from "./server.ts";

test("free ports asked for at once are distinct, listenable, and below the kernel's ephemeral range (the kernel's pick on request)", async () => {
  // As three cluster nodes do at start: route ports first, then each node's client port, concurrently.
  const ports = (await Promise.all(Array.from({ length: 3 }, () => freePort()))).concat(await Promise.all(Array.from({ length: 60 }, () => freePort())));
  expect(new Set(ports).size).toBe(ports.length);
  // Below the kernel's own range where the system says what it is (Linux; elsewhere, the IANA range's start).
  const range = "/proc/sys/net/ipv4/ip_local_port_range";
  const ephemeralLow = existsSync(range) ? Number(readFileSync(range, "utf8").trim().split(/\s+/)[0]) : 49152;
  for (const p of ports) expect(p).toBeLessThan(ephemeralLow);
  // A long-lived server's port is the kernel's pick, still never one handed out before.
  const kernels = await Promise.all(Array.from({ length: 5 }, () => freePort({ ephemeral: true })));
  for (const p of kernels) expect(p).toBeGreaterThanOrEqual(ephemeralLow);
  expect(new Set([...ports, ...kernels]).size).toBe(ports.length + kernels.length);
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
