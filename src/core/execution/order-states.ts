// The states an order can be in, as plain data with no imports: the dashboard's history filter
// lists them without pulling in the transition table and its decimal arithmetic (order-state.ts).
export const ORDER_STATES = [
  /** the intent row is stored; nothing was sent */
  "PENDING",
  /** the request is on its way; its outcome is not known yet */
  "SUBMITTING",
  /** the request may or may not have reached the venue: ask before anything else */
  "UNKNOWN",
  /** accepted by the venue and open */
  "NEW",
  "PARTIALLY_FILLED",
  /** a cancel was sent; fills may still arrive */
  "PENDING_CANCEL",
  "FILLED",
  "CANCELED",
  "REJECTED",
  "EXPIRED",
  /** the venue confirmed, after the grace window, that it never had the order */
  "NOT_PLACED",
  /** refused by AURA's pre-trade checks: recorded, never sent */
  "DENIED",
] as const;
export type OrderState = (typeof ORDER_STATES)[number];
