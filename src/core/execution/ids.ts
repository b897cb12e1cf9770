// Order ids derived before any network call, so a retry after a timeout asks the venue for the
// order it may already have instead of sending a second one. An intent is one decision of one
// strategy instance on one candle; each order the intent leads to (the entry, the OCO list and its
// two legs, an exit) gets a client order id that is a pure function of the intent and the leg.
import { base64url, sha256 } from "../util/sha256";

/** entry/exit: a signal's decision on a candle; close: closing the position when the instance stops */
export type IntentAction = "entry" | "exit" | "close";
export type OrderLeg = "entry" | "exit" | "list" | "take_profit" | "stop_loss";

const LEG_CODE: Readonly<Record<OrderLeg, string>> = {
  entry: "e",
  exit: "x",
  list: "l",
  take_profit: "t",
  stop_loss: "s",
};

/** Every client order id AURA sends starts with this, so reconciliation can tell ours from others'. */
export const CLIENT_ID_PREFIX = "au";
const CLIENT_ID_RE = /^au[extls]_[A-Za-z0-9_-]{24}$/;

/** The intent of a strategy instance's decision on a candle: the same decision has the same id. */
export function intentId(instanceId: number | string, candleOpenTime: number, action: IntentAction): string {
  if (!Number.isSafeInteger(candleOpenTime) || candleOpenTime < 0) {
    throw new RangeError(`candle open time must be epoch ms, got ${candleOpenTime}`);
  }
  return `s${instanceId}-${candleOpenTime}-${action}`;
}

/**
 * The venue id of one leg of an intent: 28 characters of [A-Za-z0-9_-] (Binance accepts up to 36
 * of a wider set), "au" + a leg letter + "_" + 144 bits of SHA-256 of intent and leg.
 */
export function clientOrderId(intent: string, leg: OrderLeg): string {
  return `${CLIENT_ID_PREFIX}${LEG_CODE[leg]}_${base64url(sha256(`${intent}|${leg}`)).slice(0, 24)}`;
}

/** Whether a venue order carries one of our ids (anything else is someone else's order). */
export function isOurClientOrderId(id: string | null | undefined): boolean {
  return typeof id === "string" && CLIENT_ID_RE.test(id);
}
