// The life of one order as AURA records it, as one exhaustive transition table. An ambiguous
// outcome (a timeout, a 5xx, -1007) is never terminal: the order stays UNKNOWN until the venue,
// asked by client order id, says what happened. A fill that arrives after a cancel was requested
// is real and counts; terminal states absorb everything except a repeat of themselves.
import { Decimal } from "../money/decimal";
import { ORDER_STATES, type OrderState } from "./order-states";

export { ORDER_STATES, type OrderState };

export const TERMINAL_STATES: readonly OrderState[] = [
  "FILLED",
  "CANCELED",
  "REJECTED",
  "EXPIRED",
  "NOT_PLACED",
];

export function isTerminal(s: OrderState): boolean {
  return TERMINAL_STATES.includes(s);
}

/** What the venue says an order's status is (Binance's `status` field). */
export type VenueStatus =
  | "NEW"
  | "PARTIALLY_FILLED"
  | "FILLED"
  | "CANCELED"
  | "PENDING_CANCEL"
  | "REJECTED"
  | "EXPIRED"
  | "EXPIRED_IN_MATCH";

export type OrderEvent =
  | { type: "send" }
  /** the request provably never reached the venue (refused connection, 429, -1021): send again later */
  | { type: "not_sent" }
  /** a timeout, 5xx, -1007 or dropped connection: the order may exist */
  | { type: "ambiguous" }
  /** a definitive refusal (a filter, the balance): the order does not exist */
  | { type: "rejected" }
  /** the venue's answer (order response, query, stream report) */
  | { type: "venue"; status: VenueStatus }
  | { type: "cancel_requested" }
  /** after the grace window and enough lookups, the venue has no such order */
  | { type: "not_found" };

export type Transition = { ok: true; state: OrderState } | { ok: false; reason: string };

const FROM_VENUE: Readonly<Record<VenueStatus, OrderState>> = {
  NEW: "NEW",
  PARTIALLY_FILLED: "PARTIALLY_FILLED",
  FILLED: "FILLED",
  CANCELED: "CANCELED",
  PENDING_CANCEL: "PENDING_CANCEL",
  REJECTED: "REJECTED",
  EXPIRED: "EXPIRED",
  EXPIRED_IN_MATCH: "EXPIRED",
};

/** Open states the venue may move forward; the number is how far along the fill path a state is. */
const PROGRESS: Partial<Record<OrderState, number>> = { NEW: 0, PARTIALLY_FILLED: 1, PENDING_CANCEL: 1 };

function illegal(state: OrderState, event: OrderEvent): Transition {
  const what = event.type === "venue" ? `venue status ${event.status}` : event.type;
  return { ok: false, reason: `${what} is not possible for an order in state ${state}` };
}

/** The next state, or why the event cannot happen in this state (an invariant violation). */
export function transition(state: OrderState, event: OrderEvent): Transition {
  if (isTerminal(state)) {
    // a repeated report of the same end (stream and REST both tell us) changes nothing
    if (event.type === "venue" && FROM_VENUE[event.status] === state) return { ok: true, state };
    if (state === "NOT_PLACED" && event.type === "not_found") return { ok: true, state };
    return illegal(state, event);
  }
  switch (event.type) {
    case "send":
      return state === "PENDING" ? { ok: true, state: "SUBMITTING" } : illegal(state, event);
    case "not_sent":
      return state === "SUBMITTING" ? { ok: true, state: "PENDING" } : illegal(state, event);
    case "ambiguous":
      return state === "SUBMITTING" || state === "UNKNOWN"
        ? { ok: true, state: "UNKNOWN" }
        : illegal(state, event);
    case "rejected":
      return state === "SUBMITTING" || state === "UNKNOWN"
        ? { ok: true, state: "REJECTED" }
        : illegal(state, event);
    case "not_found":
      // only an order whose placement was in doubt can turn out never to have existed
      return state === "SUBMITTING" || state === "UNKNOWN"
        ? { ok: true, state: "NOT_PLACED" }
        : illegal(state, event);
    case "cancel_requested":
      return state === "NEW" || state === "PARTIALLY_FILLED" || state === "PENDING_CANCEL"
        ? { ok: true, state: "PENDING_CANCEL" }
        : illegal(state, event);
    case "venue": {
      const next = FROM_VENUE[event.status];
      if (state === "PENDING") return illegal(state, event);
      if (state === "SUBMITTING" || state === "UNKNOWN") return { ok: true, state: next };
      if (isTerminal(next)) return { ok: true, state: next };
      // an open order never goes back: a late NEW after a partial fill is an old report
      const from = PROGRESS[state]!;
      const to = PROGRESS[next]!;
      if (state === "PENDING_CANCEL" && next === "PARTIALLY_FILLED")
        return { ok: true, state: "PENDING_CANCEL" };
      return { ok: true, state: to >= from ? next : state };
    }
  }
}

/** What a user-data stream event said about one order. */
export interface ReportedOrder {
  readonly clientOrderId: string;
  /** the venue's status (NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, REJECTED, …) */
  readonly status: string;
  /** cumulative filled quantity */
  readonly filled: string;
}

/** An order as recorded: its state and cumulative filled quantity. */
export interface RecordedOrder {
  readonly clientOrderId: string;
  readonly state: OrderState;
  readonly filled: string;
}

/**
 * Whether stream events are old news: every one names an order recorded in exactly the state and
 * filled quantity it reports (the acknowledgements of orders AURA placed and recorded itself).
 * Anything else (an unknown order, a fill, a cancel the venue did on its own, a status AURA has no
 * name for) needs the venue read and reconciled.
 */
export function eventsExplained(
  events: readonly ReportedOrder[],
  recorded: readonly RecordedOrder[],
): boolean {
  const byId = new Map(recorded.map((r) => [r.clientOrderId, r]));
  return events.every((e) => {
    const r = byId.get(e.clientOrderId);
    return r !== undefined && r.state === e.status && sameQuantity(r.filled, e.filled);
  });
}

/** Decimal strings compared by value ("1.50000000" = "1.5"); anything unparsable differs. */
function sameQuantity(a: string, b: string): boolean {
  const x = Decimal.tryParse(a);
  const y = Decimal.tryParse(b);
  return x !== undefined && y !== undefined && x.eq(y);
}
