import { expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadApp } from "../contract/mod.ts";
import { client, startNats, weirCli } from "../testing/mod.ts";
import { appNames } from "./names.ts";
import { ensureAppStreams } from "./streams.ts";

const ORDER_APP = new URL("../testdata/order-app.ts", import.meta.url).pathname;
const HOUR_NS = 3_600_000 * 1e6;

test("the streams weir creates keep what the retention says; existing ones are left as they are, and a line says where theirs differ", async () => {
  await using nats = await startNats();
  await using c = await client(nats.url);
  const jsm = await jetstreamManager(c.nc);
  const app = await loadApp(ORDER_APP);
  const names = appNames(app.name);
  const notices: string[] = [];
  await ensureAppStreams(jsm, app, { partitions: 16, retention: { maxAgeMs: 3_600_000, maxBytes: 64 * 2 ** 20 }, notice: (l) => notices.push(l) });
  const limits = async (s: string) => {
    const cfg = (await jsm.streams.info(s)).config;
    return { s, age: cfg.max_age, bytes: cfg.max_bytes };
  };
  expect(await limits(names.input)).toEqual({ s: names.input, age: HOUR_NS, bytes: 64 * 2 ** 20 });
  expect(await limits(names.output)).toEqual({ s: names.output, age: HOUR_NS, bytes: 64 * 2 ** 20 });
  expect(await limits(names.dlq)).toEqual({ s: names.dlq, age: HOUR_NS, bytes: 64 * 2 ** 20 });
  // The partitions' copies share the size between them.
  expect(await limits(names.partitionStream(0))).toEqual({ s: names.partitionStream(0), age: HOUR_NS, bytes: 4 * 2 ** 20 });
  expect(notices).toEqual([]);

  // Another retention over the same streams: nothing changes, and it is said once per kind of stream.
  await ensureAppStreams(jsm, app, { partitions: 16, retention: { maxAgeMs: 2 * 86_400_000, maxBytes: 0 }, notice: (l) => notices.push(l) });
  expect(await limits(names.input)).toEqual({ s: names.input, age: HOUR_NS, bytes: 64 * 2 ** 20 });
  expect(notices).toEqual([
    `stream ${names.input} exists with 1h and 64 MiB, not the 2d and no size limit configured: it is left as it is (change it with nats stream edit)`,
    `stream ${names.output} exists with 1h and 64 MiB, not the 2d and no size limit configured: it is left as it is (change it with nats stream edit)`,
    `stream ${names.dlq} exists with 1h and 64 MiB, not the 2d and no size limit configured: it is left as it is (change it with nats stream edit)`,
    `stream ${names.partitionStream(0)} exists with 1h and 4 MiB, not the 2d and no size limit configured: it is left as it is (change it with nats stream edit)`,
  ]);
});

test("retention flags: durations and sizes, a bad one is one line and exit 2", async () => {
  expect(await weirCli("run", ORDER_APP, "--retention-max-age", "7x", "--no-http")).toEqual({ code: 2, out: "", err: 'weir: --retention-max-age must be a duration such as 7d, 12h or 30m (0 for no limit), got "7x"\n' });
  expect(await weirCli("run", ORDER_APP, "--retention-max-bytes", "lots", "--no-http")).toEqual({ code: 2, out: "", err: 'weir: --retention-max-bytes must be a size such as 1GiB, 512MiB or 10GB (0 for no limit), got "lots"\n' });
  const tooShort = await weirCli("run", ORDER_APP, "--retention-max-age", "1m", "--no-http", "--no-registry", "--nats", "nats://127.0.0.1:1");
  expect(tooShort.code).toBe(1);
  expect(tooShort.err).toBe("weir: retention max age must be at least the dedup window (10 min), got 60000 ms\n");
});
