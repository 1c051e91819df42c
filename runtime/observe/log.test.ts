import { expect, test } from "bun:test";
import { createLogger } from "./log.ts";

test("one logger, two formats: a readable line, or one JSON object per line with the record's fields", () => {
  const lines: string[] = [];
  const write = (l: string) => void lines.push(l);
  const text = createLogger({ level: "info", app: "ledger", component: "worker 1", write });
  text.debug("not shown");
  text.warn("slow snapshot", { ms: 1200 });
  expect(lines.length).toBe(1);
  expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z WARN \[weir ledger worker 1\] slow snapshot \{"ms":1200\}\n$/);

  lines.length = 0;
  const json = createLogger({ level: "debug", format: "json", app: "ledger", component: "worker 1", write });
  json.debug("partition taken", { partition: 3 });
  json.error("failed", "a plain value");
  json.info("no data");
  const records = lines.map((l) => JSON.parse(l));
  expect(lines.every((l) => l.endsWith("\n") && !l.slice(0, -1).includes("\n"))).toBe(true);
  expect(records.map(({ time, ...r }) => (expect(Date.parse(time)).not.toBeNaN(), r))).toEqual([
    { level: "debug", msg: "partition taken", app: "ledger", component: "worker 1", partition: 3 },
    { level: "error", msg: "failed", app: "ledger", component: "worker 1", data: "a plain value" },
    { level: "info", msg: "no data", app: "ledger", component: "worker 1" },
  ]);
});
