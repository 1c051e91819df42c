import { z } from "zod";
import { dedupOperator, defineActor, defineApp, intervalJoin, subjectToken, type DedupState, type JoinState } from "../../actors/mod.ts";

export const PAY_WITHIN_MS = 30 * 60_000;
export const LATENESS_MS = 5 * 60_000;
export const OUT_OF_ORDERNESS_MS = 60_000;

export const Order = z.object({
  type: z.literal("order"),
  event_id: z.string().min(1),
  order_id: z.string().min(1),
  amount_cents: z.number().int().positive(),
  event_time: z.number().int(),
});
export const Payment = z.object({
  type: z.literal("payment"),
  event_id: z.string().min(1),
  payment_id: z.string().min(1),
  order_id: z.string().min(1),
  amount_cents: z.number().int().positive(),
  event_time: z.number().int(),
});
export const ShopEvent = z.discriminatedUnion("type", [Order, Payment]);
export type Order = z.infer<typeof Order>;
export type Payment = z.infer<typeof Payment>;
export type ShopEvent = z.infer<typeof ShopEvent>;

// Payments (left) match an order (right) when paid within 30 minutes after it.
const join = intervalJoin<Payment, Order>({ lowerMs: 0, upperMs: PAY_WITHIN_MS, latenessMs: LATENESS_MS });
const dedup = dedupOperator({ withinMs: 2 * PAY_WITHIN_MS + LATENESS_MS });

interface OrderState {
  join: JoinState<Payment, Order>;
  dedup: DedupState;
  paid: boolean;
}

/**
 * Orders ⋈ payments by `order_id`: a payment within 30 minutes after its order emits
 * `shop.paid.<order>` when the amounts agree and `shop.mismatch.<order>` when they do not; an order
 * left unpaid once no payment can still match goes to `shop.unmatched.<order>` (its dead-letter
 * subject), a payment without an order to `shop.orphan-payment.<order>`. Event ids count once;
 * events more than 5 minutes behind the watermark go to `shop.late.<order>`.
 */
export const ordersPayments = defineActor({
  name: "orders-payments",
  input: ["shop.orders.>", "shop.payments.>"],
  key: { field: "order_id" },
  event: ShopEvent,
  state: z.custom<OrderState>((v) => typeof v === "object" && v !== null && "join" in v),
  initial: (): OrderState => ({ join: join.initial(), dedup: dedup.initial(), paid: false }),
  outputs: ["shop.paid.*", "shop.mismatch.*", "shop.unmatched.*", "shop.orphan-payment.*", "shop.late.*"],
  // Everything about an order is decided within 35 minutes; a day later its key is forgotten.
  ttlMs: 24 * 60 * 60_000,
  handle(state, e, ctx) {
    if (dedup.seen(state.dedup, e.event_id, ctx)) return state;
    if (ctx.eventTime + LATENESS_MS <= ctx.watermark) {
      ctx.emit(`shop.late.${subjectToken(ctx.key)}`, { event: e, reason: `too late: event time ${ctx.eventTime} is more than ${LATENESS_MS} ms behind the watermark ${ctx.watermark}` });
      return state;
    }
    const pair = (p: Payment, o: Order) => {
      if (p.amount_cents !== o.amount_cents) {
        ctx.emit(`shop.mismatch.${subjectToken(ctx.key)}`, { order_id: o.order_id, payment_id: p.payment_id, ordered: o.amount_cents, paid: p.amount_cents });
      } else if (!state.paid) {
        state.paid = true;
        ctx.emit(`shop.paid.${subjectToken(ctx.key)}`, { order_id: o.order_id, payment_id: p.payment_id, amount_cents: o.amount_cents, paid_after_ms: p.event_time - o.event_time });
      }
    };
    const unmatched = (side: "left" | "right", v: Payment | Order) =>
      ctx.emit(side === "right" ? `shop.unmatched.${subjectToken(ctx.key)}` : `shop.orphan-payment.${subjectToken(ctx.key)}`, v);
    if (e.type === "order") join.right(state.join, e, ctx, pair, unmatched);
    else join.left(state.join, e, ctx, pair, unmatched);
    return state;
  },
  onTimer(state, timer, ctx) {
    if (dedup.onTimer(state.dedup, timer)) return state;
    join.onTimer(state.join, timer, (side, v) => ctx.emit(side === "right" ? `shop.unmatched.${subjectToken(ctx.key)}` : `shop.orphan-payment.${subjectToken(ctx.key)}`, v));
    return state;
  },
});

export default defineApp({
  name: "shop",
  actors: [ordersPayments],
  partitions: 8,
  eventTime: { field: "event_time" },
  watermark: { outOfOrdernessMs: OUT_OF_ORDERNESS_MS, idleMs: 60_000 },
  snapshot: { everyEvents: 2_000, everyMs: 200 },
});
