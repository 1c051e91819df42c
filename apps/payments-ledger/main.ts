import { z } from "zod";
import { dedupOperator, defineActor, defineApp, TerminalError, type DedupState } from "../../actors/mod.ts";

export const DEDUP_MS = 10 * 60_000;

export const Payment = z.object({
  event_id: z.string().min(1),
  account_id: z.string().min(1),
  /** Signed amount in cents (integers keep balances exact). */
  amount: z.number().int(),
  currency: z.string().length(3),
  event_time: z.number().int(),
});
export type Payment = z.infer<typeof Payment>;

const dedup = dedupOperator({ withinMs: DEDUP_MS });

interface Account {
  balance: number;
  currency: string;
  dedup: DedupState;
}

/**
 * Payments ledger: each payment (`event_id` counted once within 10 minutes of event time) is
 * upserted into the `transactions` table keyed by `event_id`, and the account's balance is kept in
 * the `balances` table and the `balances` KV view (served at `GET /views/balances/<account>`).
 * Runs on SQLite by default (`--sink sqlite:./.weir/out.db`) and on PostgreSQL with
 * `--sink postgres://...`.
 */
export const ledger = defineActor({
  name: "ledger",
  input: "payments.>",
  key: { field: "account_id" },
  event: Payment,
  state: z.custom<Account>((v) => typeof v === "object" && v !== null && "balance" in v),
  initial: (): Account => ({ balance: 0, currency: "", dedup: dedup.initial() }),
  handle(acct, p, ctx) {
    if (dedup.seen(acct.dedup, p.event_id, ctx)) return acct;
    if (acct.currency && p.currency !== acct.currency) {
      // No retry can fix it: the payment goes to the dead-letter subject at once. The dedup above
      // recorded its id first; the failed attempt leaves no trace, so a corrected payment with the
      // same id still counts.
      throw new TerminalError(`account ${p.account_id} is in ${acct.currency}; payment ${p.event_id} is in ${p.currency}`);
    }
    acct.balance += p.amount;
    acct.currency = p.currency;
    ctx.upsert("transactions", { event_id: p.event_id, account_id: p.account_id, amount: p.amount, currency: p.currency, event_time: p.event_time });
    ctx.upsert("balances", { account_id: p.account_id, balance: acct.balance, currency: p.currency, updated_at: p.event_time });
    ctx.view("balances", p.account_id, { balance: acct.balance, currency: p.currency, updated_at: p.event_time });
    return acct;
  },
  onTimer(acct, timer) {
    dedup.onTimer(acct.dedup, timer);
    return acct;
  },
});

export default defineApp({
  name: "ledger",
  actors: [ledger],
  partitions: 16,
  eventTime: { field: "event_time" },
  watermark: { outOfOrdernessMs: 60_000 },
  tables: {
    transactions: {
      columns: { event_id: "text", account_id: "text", amount: "integer", currency: "text", event_time: "integer" },
      key: ["event_id"],
    },
    balances: { columns: { account_id: "text", balance: "integer", currency: "text", updated_at: "integer" }, key: ["account_id"] },
  },
  views: ["balances"],
  snapshot: { everyEvents: 20_000, everyMs: 500 },
});
