// ORD-15 pre-trade checks, property-based: over random prices, balances, sizes, fees and limits,
// every order the checks approve is one the venue's own filter code accepts, and every order they
// deny really breaks a rule (a venue filter, the balance, the exposure cap, the open-position cap,
// a halt or a pause), so nothing that breaks one reaches the venue and nothing valid is refused.
// The venue is the simulator's matching engine, asked in memory with the same filters Binance uses.
import fc from "fast-check";
import { Decimal } from "../../../src/core/money/decimal";
import { checkEntry, checkExit, type EntryInput } from "../../../src/core/execution/pretrade";
import { planProtection } from "../../../src/core/execution/protection";
import { SYMBOLS, type SymbolSpec } from "../../../src/core/market/symbols";
import { MatchingEngine } from "../../../src/sim/engine/engine";
import { BinanceError } from "../../../src/sim/binance/errors";

const SPECS = [SYMBOLS.BTCUSDT, SYMBOLS.ETHUSDT];
const RUNS = 2000;

const dec = (units: number | bigint, scale: number) => Decimal.of(BigInt(units), scale);

/** A venue holding `balances` with the market at `price`: what would it say to `place`? */
function venueAccepts(
  spec: SymbolSpec,
  price: Decimal,
  balances: Record<string, Decimal>,
  place: (e: MatchingEngine, accountId: number) => void,
  feeRate = "0.001",
): { ok: true } | { ok: false; why: string } {
  const engine = new MatchingEngine({ makerCommission: feeRate, takerCommission: feeRate }, [spec]);
  const acc = engine.createAccount(balances);
  engine.onPrice(spec.symbol, price, 1_690_000_000_000);
  try {
    place(engine, acc.id);
    return { ok: true };
  } catch (e) {
    if (e instanceof BinanceError) return { ok: false, why: `${e.code} ${e.msg}` };
    throw e;
  }
}

const priceArb = (spec: SymbolSpec) =>
  fc
    .oneof(
      fc.integer({ min: 1, max: 10_000_000 }).map((n) => dec(n, 2)),
      fc.integer({ min: 1, max: 200 }).map((n) => dec(n, 2)),
    )
    .map((p) => p.roundDown(Decimal.parse(spec.tickSize)));

const amountArb = fc.oneof(
  fc.integer({ min: 0, max: 5_000_000_000_000 }).map((n) => dec(n, 8)),
  fc.integer({ min: 0, max: 2_000_000_000 }).map((n) => dec(n, 8)),
);

const entryArb = fc
  .record({
    spec: fc.constantFrom(...SPECS),
    halted: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    paused: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    freeQuote: amountArb,
    extraEquity: amountArb,
    positionSizePct: fc.oneof(
      fc.integer({ min: 1, max: 10_000 }).map((n) => n / 100),
      fc.constant(100),
    ),
    feeBps: fc.integer({ min: 0, max: 20 }),
    openPositions: fc.integer({ min: 0, max: 2 }),
    maxOpenPositions: fc.integer({ min: 1, max: 4 }),
    cap: fc.option(amountArb, { nil: undefined, freq: 3 }),
    exposure: amountArb,
  })
  .chain((r) => priceArb(r.spec).map((referencePrice) => ({ ...r, referencePrice })));

test(`ORD-15 entries: approved ⇔ the venue accepts it and every limit holds (${RUNS} cases)`, () => {
  let approved = 0;
  let denied = 0;
  fc.assert(
    fc.property(entryArb, (r) => {
      const feeRate = dec(r.feeBps, 4);
      const input: EntryInput = {
        spec: r.spec,
        halted: r.halted,
        paused: r.paused,
        referencePrice: r.referencePrice,
        freeQuote: r.freeQuote,
        equity: r.freeQuote.add(r.extraEquity),
        positionSizePct: r.positionSizePct,
        feeRate,
        openPositions: r.openPositions,
        maxOpenPositions: r.maxOpenPositions,
        maxExposure: r.cap,
        exposure: r.exposure,
      };
      const verdict = checkEntry(input);
      // the order the strategy's sizing asks for (as the backtest sizes it): positionSizePct of
      // equity with room for the fee, never more than the free cash pays with its fee on top
      const onePlusFee = Decimal.ONE.add(feeRate);
      const wanted = input.equity
        .mul(Decimal.parse(r.positionSizePct.toFixed(8)))
        .div(Decimal.from(100).mul(onePlusFee), 8, "down");
      const spend = Decimal.min(wanted, r.freeQuote.div(onePlusFee, 8, "down"));
      const venue = spend.isPositive()
        ? venueAccepts(
            r.spec,
            r.referencePrice,
            { [r.spec.quoteAsset]: r.freeQuote },
            (e, id) =>
              e.testOrder(id, { symbol: r.spec.symbol, side: "BUY", type: "MARKET", quoteOrderQty: spend }),
            feeRate.toString(),
          )
        : { ok: false as const, why: "nothing to spend" };
      const rules: [boolean, string][] = [
        [r.halted, "halted"],
        [r.paused, "paused"],
        [r.openPositions >= r.maxOpenPositions, "max_open_positions"],
        [r.cap !== undefined && r.exposure.add(spend).gt(r.cap), "exposure_cap"],
      ];
      const valid = venue.ok && rules.every(([broken]) => !broken);
      if (verdict.ok) {
        approved++;
        if (!valid)
          throw new Error(
            `approved an order that breaks ${venue.ok ? rules.find(([b]) => b)![1] : venue.why}: spend ${spend}`,
          );
        expect(verdict.quoteOrderQty).toBe(spend.toString());
      } else {
        denied++;
        if (valid)
          throw new Error(
            `denied a valid order (${verdict.reason}: ${verdict.message}), spend ${spend}, equity ${input.equity}, free ${r.freeQuote}, price ${r.referencePrice}, pct ${r.positionSizePct}, fee ${feeRate}`,
          );
        // the reason names a rule that is really broken
        const broken = rules.filter(([b]) => b).map(([, n]) => n);
        if (["halted", "paused", "max_open_positions", "exposure_cap"].includes(verdict.reason))
          expect(broken).toContain(verdict.reason);
        else expect(venue.ok).toBe(false);
      }
    }),
    { numRuns: RUNS },
  );
  // both outcomes were exercised in earnest
  expect(approved).toBeGreaterThan(RUNS / 10);
  expect(denied).toBeGreaterThan(RUNS / 10);
});

const exitArb = fc
  .record({
    spec: fc.constantFrom(...SPECS),
    positionQty: fc.oneof(
      fc.integer({ min: 0, max: 20_000_000_000 }).map((n) => dec(n, 8)),
      fc.integer({ min: 0, max: 100_000 }).map((n) => dec(n, 8)),
    ),
    lessFree: fc.integer({ min: 0, max: 3 }),
  })
  .chain((r) => priceArb(r.spec).map((referencePrice) => ({ ...r, referencePrice })));

test(`ORD-15 exits: approved ⇔ the venue accepts the sale of what is held and free (${RUNS} cases)`, () => {
  let approved = 0;
  fc.assert(
    fc.property(exitArb, (r) => {
      // sometimes less is free than the position says (dust sold by hand, a fee)
      const freeBase = r.lessFree === 0 ? r.positionQty.div(Decimal.from(2), 8, "down") : r.positionQty;
      const verdict = checkExit({
        spec: r.spec,
        positionQty: r.positionQty,
        freeBase,
        referencePrice: r.referencePrice,
      });
      const qty = Decimal.min(r.positionQty, freeBase).roundDown(Decimal.parse(r.spec.stepSize));
      const venue = qty.isPositive()
        ? venueAccepts(r.spec, r.referencePrice, { [r.spec.baseAsset]: freeBase }, (e, id) =>
            e.testOrder(id, { symbol: r.spec.symbol, side: "SELL", type: "MARKET", quantity: qty }),
          )
        : { ok: false as const, why: "nothing to sell" };
      if (verdict.ok) {
        approved++;
        if (!venue.ok) throw new Error(`approved an exit the venue refuses (${venue.why}): ${qty}`);
        expect(verdict.quantity).toBe(qty.toString());
      } else if (venue.ok) throw new Error(`denied a valid exit (${verdict.reason}): ${qty}`);
    }),
    { numRuns: RUNS },
  );
  expect(approved).toBeGreaterThan(RUNS / 10);
});

const protectionArb = fc
  .record({
    spec: fc.constantFrom(...SPECS),
    quantity: fc.oneof(
      fc.integer({ min: 1, max: 5_000_000_000 }).map((n) => dec(n, 8)),
      fc.integer({ min: 1, max: 100_000 }).map((n) => dec(n, 8)),
    ),
    takeProfitPct: fc.option(
      fc.integer({ min: 1, max: 1_000_000 }).map((n) => n / 100),
      { nil: undefined },
    ),
    stopLossPct: fc.option(
      fc.integer({ min: 1, max: 9_999 }).map((n) => n / 100),
      { nil: undefined },
    ),
  })
  .chain((r) => priceArb(r.spec).map((entryPrice) => ({ ...r, entryPrice })));

test(`ORD-15 protection: a planned OCO is one the venue accepts on the tick and lot grid (${RUNS} cases)`, () => {
  let placed = 0;
  fc.assert(
    fc.property(protectionArb, (r) => {
      const plan = planProtection({
        spec: r.spec,
        entryPrice: r.entryPrice,
        quantity: r.quantity,
        takeProfitPct: r.takeProfitPct,
        stopLossPct: r.stopLossPct,
      });
      if (r.takeProfitPct === undefined && r.stopLossPct === undefined) {
        expect(plan.kind).toBe("none");
        return;
      }
      if (plan.kind !== "oco") {
        // only what cannot be an OCO: one-sided risk, or an OCO at the asked prices the venue refuses
        expect(plan.kind).toBe("impossible");
        if (r.takeProfitPct !== undefined && r.stopLossPct !== undefined) {
          const tick = Decimal.parse(r.spec.tickSize);
          const frac = (x: number) => Decimal.parse(x.toFixed(8)).div(Decimal.from(100), 10, "halfEven");
          const stop = r.entryPrice.mul(Decimal.ONE.sub(frac(r.stopLossPct))).roundDown(tick);
          const asked = venueAccepts(r.spec, r.entryPrice, { [r.spec.baseAsset]: r.quantity }, (e, id) =>
            e.placeOco(
              id,
              {
                symbol: r.spec.symbol,
                side: "SELL",
                quantity: r.quantity.roundDown(Decimal.parse(r.spec.stepSize)),
                above: {
                  type: "LIMIT_MAKER",
                  price: r.entryPrice.mul(Decimal.ONE.add(frac(r.takeProfitPct!))).roundUp(tick),
                },
                below: {
                  type: "STOP_LOSS_LIMIT",
                  stopPrice: stop,
                  price: Decimal.max(stop.mul(Decimal.parse("0.95")).roundDown(tick), tick),
                  timeInForce: "GTC",
                },
              },
              1_690_000_000_000,
            ),
          );
          if (asked.ok)
            throw new Error(
              `called an OCO impossible that the venue takes: ${plan.kind === "impossible" ? plan.message : ""}`,
            );
        }
        return;
      }
      const p = plan.plan;
      const tick = Decimal.parse(r.spec.tickSize);
      for (const x of [p.takeProfitPrice, p.stopPrice, p.stopLimitPrice])
        expect(Decimal.parse(x).isMultipleOf(tick)).toBe(true);
      const venue = venueAccepts(r.spec, r.entryPrice, { [r.spec.baseAsset]: r.quantity }, (e, id) =>
        e.placeOco(
          id,
          {
            symbol: r.spec.symbol,
            side: "SELL",
            quantity: Decimal.parse(p.quantity),
            above: { type: "LIMIT_MAKER", price: Decimal.parse(p.takeProfitPrice) },
            below: {
              type: "STOP_LOSS_LIMIT",
              stopPrice: Decimal.parse(p.stopPrice),
              price: Decimal.parse(p.stopLimitPrice),
              timeInForce: "GTC",
            },
          },
          1_690_000_000_000,
        ),
      );
      if (!venue.ok)
        throw new Error(
          `planned an OCO the venue refuses (${venue.why}): ${JSON.stringify(p)} at ${r.entryPrice}`,
        );
      placed++;
    }),
    { numRuns: RUNS },
  );
  expect(placed).toBeGreaterThan(RUNS / 10);
});
