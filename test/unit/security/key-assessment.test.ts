// Key permission decision table: which exchange answers make AURA refuse a key, and with which reason.
import { assessKey } from "../../../src/adapters/exchange/key-validation";

const account = (over: Record<string, unknown> = {}) => ({
  canTrade: true,
  canWithdraw: true,
  permissions: ["SPOT"],
  ...over,
});
const restrictions = (over: Record<string, unknown> = {}) => ({
  ipRestrict: true,
  enableReading: true,
  enableSpotAndMarginTrading: true,
  enableWithdrawals: false,
  enableInternalTransfer: false,
  permitsUniversalTransfer: false,
  enableMargin: false,
  enableFutures: false,
  ...over,
});

test("a spot-trading key that cannot move funds is accepted", () => {
  const r = assessKey("binance", account(), restrictions());
  expect(r).toMatchObject({
    ok: true,
    permissions: {
      spotTrading: true,
      withdrawals: false,
      internalTransfer: false,
      universalTransfer: false,
      ipRestrict: true,
      warnings: [],
    },
  });
});

test.each([
  ["withdrawals enabled", account(), restrictions({ enableWithdrawals: true }), "withdrawals_enabled"],
  [
    "internal transfer enabled",
    account(),
    restrictions({ enableInternalTransfer: true }),
    "internal_transfer_enabled",
  ],
  [
    "universal transfer enabled",
    account(),
    restrictions({ permitsUniversalTransfer: true }),
    "universal_transfer_enabled",
  ],
  [
    "spot trading disabled on the key",
    account(),
    restrictions({ enableSpotAndMarginTrading: false }),
    "trading_disabled",
  ],
  ["trading disabled on the account", account({ canTrade: false }), restrictions(), "trading_disabled"],
  [
    "account without SPOT permission",
    account({ permissions: ["MARGIN"] }),
    restrictions(),
    "trading_disabled",
  ],
  [
    "withdrawals and no trading (withdrawals reported first)",
    account(),
    restrictions({ enableWithdrawals: true, enableSpotAndMarginTrading: false }),
    "withdrawals_enabled",
  ],
  [
    "restrictions missing a flag",
    account(),
    (({ enableWithdrawals: _w, ...r }) => r)(restrictions()),
    "unexpected_response",
  ],
  [
    "withdrawal flag not a boolean",
    account(),
    restrictions({ enableWithdrawals: "false" }),
    "unexpected_response",
  ],
  ["no restrictions answer", account(), undefined, "unexpected_response"],
  ["account answer without canTrade", { balances: [] }, restrictions(), "unexpected_response"],
])("%s → rejected (%s)", (_n, acc, restr, reason) => {
  const r = assessKey("binance", acc, restr);
  expect(r.ok).toBe(false);
  expect(r).toMatchObject({ reason, message: expect.any(String) });
});

test("a key without an IP whitelist is accepted with a warning", () => {
  const r = assessKey("sim", account(), restrictions({ ipRestrict: false }));
  expect(r).toMatchObject({ ok: true, permissions: { warnings: ["no_ip_restriction"] } });
});

test("the testnet (which has no /sapi and cannot move funds) is judged by the account answer", () => {
  expect(assessKey("binance-testnet", account(), undefined)).toMatchObject({ ok: true });
  expect(assessKey("binance-testnet", account({ canTrade: false }), undefined)).toMatchObject({
    ok: false,
    reason: "trading_disabled",
  });
});
