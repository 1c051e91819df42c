import { expect, test } from "bun:test";
import { appNames, startRuntime } from "../runtime/internal.ts";
import { client, orderWorkload, publishAll, readStream, startNats, weirCli } from "../runtime/testing/mod.ts";

const ORDER_APP = new URL("../runtime/testdata/order-app.ts", import.meta.url).pathname;

test("weir status shows rates, lag, watermark and dead letters while events flow; weir tail prints a subject's last messages decoded", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const rt = await startRuntime({ app: ORDER_APP, nats: nats.url, workers: 1, logLevel: "error" });
  try {
    const { events } = orderWorkload(4, 30_000, 100, 10);
    await publishAll(c.js, events.slice(0, 2_000));
    await rt.drained();
    // Events keep coming while status measures its rates.
    let flowing = true;
    const flow = (async () => {
      for (let i = 2_000; flowing && i < events.length; i += 500) {
        await publishAll(c.js, events.slice(i, i + 500));
        await Bun.sleep(50);
      }
    })();
    const status = await weirCli("status", "order", "--nats", nats.url, "--interval", "2", "--json");
    flowing = false;
    await flow;
    expect(status.code).toBe(0);
    const st = JSON.parse(status.out);
    expect(st.rates.in).toBeGreaterThan(0);
    expect(st.rates.applied).toBeGreaterThan(0);
    expect(st.rates.out).toBeGreaterThan(0);
    expect(st.deadLetters).toBe(0);
    expect(typeof st.watermark).toBe("number");
    expect(st.watermarkAgeMs).toBeGreaterThanOrEqual(0);
    expect(st.behind).toBeGreaterThanOrEqual(0);
    expect(st.perPartition.some((p: { watermark?: number }) => typeof p.watermark === "number")).toBe(true);
    const text = await weirCli("status", "order", "--nats", nats.url, "--interval", "0");
    expect(text.out).toContain("dead letters 0");
    expect(text.out).toContain("behind the clock");
    await rt.drained();

    const outputs = await readStream(c.nc, appNames("order").output);
    const tail = await weirCli("tail", "t.out.>", "--nats", nats.url, "--last", "3", "--no-follow", "--json");
    expect(tail.code).toBe(0);
    const lines = tail.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.seq)).toEqual(outputs.slice(-3).map((o) => o.seq));
    expect(lines.map((l) => l.value)).toEqual(outputs.slice(-3).map((o) => o.value));
    expect(lines[0].headers["Nats-Msg-Id"]).toBeString();
    const empty = await weirCli("tail", appNames("order").dlqSubject, "--nats", nats.url, "--all", "--no-follow");
    expect(empty).toEqual({ code: 0, out: "", err: "" });
    const nowhere = await weirCli("tail", "no.such.subject", "--nats", nats.url, "--no-follow");
    expect({ code: nowhere.code, err: nowhere.err }).toEqual({ code: 1, err: "weir: no stream stores subject no.such.subject on this NATS\n" });
    expect((await weirCli("tail", "a", "--all", "--last", "2")).err).toBe("weir: give one of --last, --all and --since\n");
  } finally {
    await rt.stop();
  }
}, 120_000);
