// Order ids and the order state machine: ids are short, safe and a pure function of the intent
// (so a restart derives the same ones), and the state machine never lets an ambiguous outcome end
// an order nor anything move an order out of a terminal state.
import crypto from "node:crypto";
import fc from "fast-check";
import { clientOrderId, intentId, isOurClientOrderId, type OrderLeg } from "../../../src/core/execution/ids";
import {
  eventsExplained,
  isTerminal,
  ORDER_STATES,
  TERMINAL_STATES,
  transition,
  type OrderEvent,
  type OrderState,
  type RecordedOrder,
  type VenueStatus,
} from "../../../src/core/execution/order-state";
import { base64url, sha256, sha256Hex } from "../../../src/core/util/sha256";

const LEGS: OrderLeg[] = ["entry", "exit", "list", "take_profit", "stop_loss"];

describe("sha256 (pure, for ids in the core)", () => {
  test.each(["", "abc", "a".repeat(55), "a".repeat(56), "a".repeat(64), "a".repeat(1000), "héllo 😀 ü"])(
    "equals node:crypto for %j",
    (s) => {
      expect(sha256Hex(s)).toBe(crypto.createHash("sha256").update(s, "utf8").digest("hex"));
      expect(base64url(sha256(s))).toBe(crypto.createHash("sha256").update(s, "utf8").digest("base64url"));
    },
  );
});

// ORD-21: deterministic from the intent, so a restarted node derives the very same ids
describe("ORD-21 client order ids", () => {
  test("at most 32 characters of [A-Za-z0-9_-], ours by prefix, deterministic from the intent", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        fc.constantFrom<"entry" | "exit">("entry", "exit"),
        fc.constantFrom(...LEGS),
        (instance, candle, action, leg) => {
          const intent = intentId(instance, candle, action);
          const id = clientOrderId(intent, leg);
          expect(id.length).toBeLessThanOrEqual(32);
          expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
          expect(isOurClientOrderId(id)).toBe(true);
          // a restart derives the same id
          expect(clientOrderId(intentId(instance, candle, action), leg)).toBe(id);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test("no collisions across a million intents and legs", () => {
    const seen = new Set<string>();
    let n = 0;
    for (let instance = 1; instance <= 100; instance++) {
      for (let c = 0; c < 2000; c++) {
        const intent = intentId(instance, 1_672_531_200_000 + c * 3_600_000, c % 2 ? "exit" : "entry");
        for (const leg of LEGS) {
          seen.add(clientOrderId(intent, leg));
          n++;
        }
      }
    }
    expect(n).toBe(1_000_000);
    expect(seen.size).toBe(n);
  });

  test("other systems' ids are not ours", () => {
    for (const id of ["web_123", "x-abc", "au", "aux_short", "ios_AbCdEf", "", "aue_" + "A".repeat(23)]) {
      expect(isOurClientOrderId(id)).toBe(false);
    }
    expect(() => intentId(1, -1, "entry")).toThrow(RangeError);
  });
});

const V = (status: VenueStatus): OrderEvent => ({ type: "venue", status });

describe("order state machine", () => {
  test.each<[OrderState, OrderEvent, OrderState | null]>([
    ["PENDING", { type: "send" }, "SUBMITTING"],
    ["SUBMITTING", V("NEW"), "NEW"],
    ["SUBMITTING", V("FILLED"), "FILLED"],
    ["SUBMITTING", { type: "ambiguous" }, "UNKNOWN"],
    ["UNKNOWN", { type: "ambiguous" }, "UNKNOWN"],
    ["UNKNOWN", V("FILLED"), "FILLED"],
    ["UNKNOWN", { type: "not_found" }, "NOT_PLACED"],
    ["SUBMITTING", { type: "rejected" }, "REJECTED"],
    ["NEW", V("PARTIALLY_FILLED"), "PARTIALLY_FILLED"],
    ["PARTIALLY_FILLED", V("FILLED"), "FILLED"],
    ["PARTIALLY_FILLED", V("NEW"), "PARTIALLY_FILLED"],
    ["NEW", { type: "cancel_requested" }, "PENDING_CANCEL"],
    ["PENDING_CANCEL", V("CANCELED"), "CANCELED"],
    // the cancel/fill race: the order filled while the cancel was on its way
    ["PENDING_CANCEL", V("FILLED"), "FILLED"],
    ["PENDING_CANCEL", V("PARTIALLY_FILLED"), "PENDING_CANCEL"],
    ["NEW", V("EXPIRED_IN_MATCH"), "EXPIRED"],
    ["FILLED", V("FILLED"), "FILLED"],
    // impossible ones
    ["PENDING", V("NEW"), null],
    ["NEW", { type: "send" }, null],
    ["NEW", { type: "ambiguous" }, null],
    ["NEW", { type: "not_found" }, null],
    ["FILLED", V("CANCELED"), null],
    ["CANCELED", V("FILLED"), null],
    ["REJECTED", { type: "send" }, null],
    ["NOT_PLACED", V("NEW"), null],
  ])("%s + %j → %s", (from, event, to) => {
    const t = transition(from, event);
    if (to === null) expect(t.ok).toBe(false);
    else expect(t).toEqual({ ok: true, state: to });
  });

  const events: OrderEvent[] = [
    { type: "send" },
    { type: "ambiguous" },
    { type: "rejected" },
    { type: "cancel_requested" },
    { type: "not_found" },
    ...(
      [
        "NEW",
        "PARTIALLY_FILLED",
        "FILLED",
        "CANCELED",
        "PENDING_CANCEL",
        "REJECTED",
        "EXPIRED",
      ] as VenueStatus[]
    ).map(V),
  ];

  test("terminal states are absorbing, and an ambiguous outcome never ends an order", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...events), { maxLength: 30 }), (seq) => {
        let s: OrderState = "PENDING";
        for (const e of seq) {
          const t = transition(s, e);
          if (!t.ok) continue;
          if (isTerminal(s)) expect(t.state).toBe(s);
          if (e.type === "ambiguous") expect(isTerminal(t.state)).toBe(false);
          s = t.state;
        }
      }),
      { numRuns: 3000 },
    );
    for (const s of ORDER_STATES) expect(isTerminal(s)).toBe(TERMINAL_STATES.includes(s));
  });
});

describe("stream events that are old news", () => {
  const recorded: RecordedOrder[] = [
    { clientOrderId: "a-entry", state: "FILLED", filled: "0.01000000" },
    { clientOrderId: "a-tp", state: "NEW", filled: "0" },
    { clientOrderId: "a-sl", state: "NEW", filled: "0" },
  ];

  test("acknowledgements of recorded orders need no venue read", () => {
    expect(
      eventsExplained(
        [
          { clientOrderId: "a-entry", status: "FILLED", filled: "0.01" },
          { clientOrderId: "a-tp", status: "NEW", filled: "0.00000000" },
          { clientOrderId: "a-sl", status: "NEW", filled: "0.00000000" },
        ],
        recorded,
      ),
    ).toBe(true);
  });

  test("a fill, a cancel, an unknown order or an unknown status is news", () => {
    for (const e of [
      { clientOrderId: "a-tp", status: "FILLED", filled: "0.01" },
      { clientOrderId: "a-tp", status: "PARTIALLY_FILLED", filled: "0.004" },
      { clientOrderId: "a-sl", status: "CANCELED", filled: "0" },
      { clientOrderId: "a-sl", status: "EXPIRED_IN_MATCH", filled: "0" },
      { clientOrderId: "someone-else", status: "NEW", filled: "0" },
      { clientOrderId: "a-entry", status: "FILLED", filled: "0.02" },
      { clientOrderId: "a-entry", status: "FILLED", filled: "not a number" },
    ])
      expect({ e, explained: eventsExplained([e], recorded) }).toEqual({ e, explained: false });
    // one piece of news in a burst is enough
    expect(
      eventsExplained(
        [
          { clientOrderId: "a-entry", status: "FILLED", filled: "0.01" },
          { clientOrderId: "a-sl", status: "FILLED", filled: "0.01" },
        ],
        recorded,
      ),
    ).toBe(false);
  });
});
