// `aura backtest`: runs a strategy definition over historical klines with the fill model of
// docs/backtesting.md and prints a report, or with --json exactly one JSON document on stdout. Bad input
// (options, strategy file, data, range) exits with code 2 and says why on stderr.
import fs from "node:fs";
import { performance } from "node:perf_hooks";
import type { Command } from "commander";
import { CandleLoadError, loadCandles } from "../../adapters/backtest/candles";
import {
  BACKTEST_DEFAULTS,
  INTRABAR_MODES,
  type IntrabarMode,
  runBacktest,
} from "../../core/backtest/engine";
import { formatUtcDate, formatUtcTime, parseDateRange } from "../../core/backtest/range";
import type { BacktestResult } from "../../core/backtest/result";
import { symbolSpec } from "../../core/market/symbols";
import { ValidationError, type ValidationIssue } from "../../core/model/errors";
import { DeclarativeStrategy } from "../../core/strategy/compiler";
import { validateStrategy } from "../../core/strategy/validator";

export const EXIT_USAGE = 2;

export interface BacktestCliOptions {
  strategy: string;
  from?: string;
  to?: string;
  fee?: string;
  slippageBps?: string;
  intrabar?: string;
  balance?: string;
  symbol?: string;
  data?: string;
  json?: boolean;
}

export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown; isTTY?: boolean };
}

export function register(program: Command): void {
  program
    .command("backtest")
    .description("backtest a strategy definition on historical klines (fill model: docs/backtesting.md)")
    .requiredOption("-s, --strategy <file>", "strategy definition (JSON, format: docs/strategy-format.md)")
    .option("--from <date>", "first day, UTC YYYY-MM-DD, inclusive (default: first candle)")
    .option("--to <date>", "last day, UTC YYYY-MM-DD, inclusive (default: last candle)")
    .option("--fee <rate>", "fee per fill as a fraction of notional", String(BACKTEST_DEFAULTS.feeRate))
    .option(
      "--slippage-bps <bps>",
      "market-fill slippage in basis points, against the trader",
      String(BACKTEST_DEFAULTS.slippageBps),
    )
    .option(
      "--intrabar <mode>",
      "stop_first | path: which level fills when a candle reaches both stop and target",
      BACKTEST_DEFAULTS.intrabar,
    )
    .option(
      "--balance <amount>",
      "starting balance in the quote asset",
      String(BACKTEST_DEFAULTS.initialBalance),
    )
    .option("--symbol <symbol>", "trade this symbol instead of the strategy's")
    .option(
      "--data <dir|file>",
      "klines directory (<SYMBOL>/<interval>/*.json) or file (default: bundled 2023–2024 history)",
    )
    .option("--json", "print the result as one JSON document {metrics, trades, equity}")
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    })
    .action((opts: BacktestCliOptions) => {
      process.exitCode = backtestCommand(opts, { stdout: process.stdout, stderr: process.stderr });
    });
}

class UsageError extends Error {}

function numberOption(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v))
    throw new UsageError(`${name} must be a number, got "${raw}"`);
  return v;
}

function intrabarOption(raw: string | undefined): IntrabarMode {
  if (raw === undefined) return BACKTEST_DEFAULTS.intrabar;
  const mode = INTRABAR_MODES.find((m) => m === raw);
  if (!mode) throw new UsageError(`--intrabar must be ${INTRABAR_MODES.join(" or ")}, got "${raw}"`);
  return mode;
}

function issueLines(issues: readonly ValidationIssue[], rename: Record<string, string> = {}): string {
  return (
    issues.map((i) => `  ${rename[i.path] ?? (i.path || "/")}: ${i.message} [${i.code}]`).join("\n") + "\n"
  );
}

/** Runs the command; returns the process exit code. */
export function backtestCommand(opts: BacktestCliOptions, io: CliIo): number {
  const fail = (msg: string) => {
    io.stderr.write(`aura backtest: ${msg}\n`);
    return EXIT_USAGE;
  };
  let feeRate: number;
  let slippageBps: number;
  let initialBalance: number;
  let intrabar: IntrabarMode;
  try {
    feeRate = numberOption("--fee", opts.fee, BACKTEST_DEFAULTS.feeRate);
    slippageBps = numberOption("--slippage-bps", opts.slippageBps, BACKTEST_DEFAULTS.slippageBps);
    initialBalance = numberOption("--balance", opts.balance, BACKTEST_DEFAULTS.initialBalance);
    intrabar = intrabarOption(opts.intrabar);
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message);
    throw err;
  }
  const range = parseDateRange(opts.from, opts.to);
  if (range.errors.length) {
    io.stderr.write(
      "aura backtest: invalid range\n" + issueLines(range.errors, { "/from": "--from", "/to": "--to" }),
    );
    return EXIT_USAGE;
  }

  let text: string;
  try {
    text = fs.readFileSync(opts.strategy, "utf8");
  } catch (err) {
    return fail(`cannot read strategy file ${opts.strategy}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return fail(`${opts.strategy} is not valid JSON: ${(err as Error).message}`);
  }
  if (opts.symbol !== undefined && doc && typeof doc === "object" && !Array.isArray(doc)) {
    doc = { ...(doc as object), symbol: opts.symbol.toUpperCase() };
  }
  const checked = validateStrategy(doc);
  if (!checked.ok) {
    io.stderr.write(
      `aura backtest: ${opts.strategy} is not a valid strategy definition\n` + issueLines(checked.errors),
    );
    return EXIT_USAGE;
  }
  const strategy = new DeclarativeStrategy(checked.definition);

  let candles;
  try {
    candles = loadCandles({ symbol: strategy.symbol, interval: strategy.interval, data: opts.data });
  } catch (err) {
    if (err instanceof CandleLoadError) return fail(err.message);
    throw err;
  }

  const bar = io.stderr.isTTY ? new ProgressBar(io.stderr) : undefined;
  let result: BacktestResult;
  const t0 = performance.now();
  try {
    result = runBacktest({
      strategy,
      candles,
      from: opts.from,
      to: opts.to,
      feeRate,
      slippageBps,
      initialBalance,
      intrabar,
      onProgress: bar ? (done, total) => bar.update(done, total) : undefined,
      progressEvery: Math.max(1, Math.ceil(candles.length / 50)),
    });
  } catch (err) {
    bar?.clear();
    if (err instanceof ValidationError) {
      io.stderr.write(
        "aura backtest: cannot run\n" +
          issueLines(err.issues, {
            "/feeRate": "--fee",
            "/slippageBps": "--slippage-bps",
            "/initialBalance": "--balance",
            "/intrabar": "--intrabar",
          }),
      );
      return EXIT_USAGE;
    }
    throw err;
  }
  const engineMs = performance.now() - t0;
  bar?.clear();

  if (opts.json) {
    io.stdout.write(JSON.stringify(result) + "\n");
  } else {
    io.stdout.write(formatReport(strategy, result, engineMs, intrabar));
  }
  return 0;
}

class ProgressBar {
  private lastPct = -1;
  constructor(private readonly out: { write(s: string): unknown }) {}
  update(done: number, total: number): void {
    const pct = Math.floor((done / total) * 100);
    if (pct === this.lastPct) return;
    this.lastPct = pct;
    const width = 30;
    const filled = Math.round((pct / 100) * width);
    this.out.write(
      `\r  backtest [${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(pct).padStart(3)}%`,
    );
  }
  clear(): void {
    if (this.lastPct >= 0) this.out.write("\r\x1b[K");
  }
}

const num = (v: number, digits = 2) =>
  v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function duration(ms: number): string {
  const h = Math.round(ms / 3_600_000);
  const d = Math.floor(h / 24);
  return d > 0 ? `${d}d ${h % 24}h` : `${h}h`;
}

function table(rows: string[][], alignRight: boolean[]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return (
    rows
      .map(
        (r) =>
          "  " +
          r
            .map((cell, c) => (alignRight[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
            .join("  ")
            .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

export function formatReport(
  strategy: DeclarativeStrategy,
  result: BacktestResult,
  engineMs: number,
  intrabar: IntrabarMode = BACKTEST_DEFAULTS.intrabar,
): string {
  const m = result.metrics;
  const info = result.info;
  const spec = symbolSpec(info.symbol);
  const quote = spec?.quoteAsset ?? "";
  const base = spec?.baseAsset ?? "";
  const ratio = (v: number | null) => (v === null ? "n/a" : num(v));
  const out: string[] = [];
  out.push(`AURA backtest: ${strategy.name}`);
  out.push(
    `${info.symbol} ${info.interval}  ${formatUtcDate(info.firstCandleTime)} → ${formatUtcDate(info.lastCandleTime)}  ` +
      `${info.candles.toLocaleString("en-US")} candles (+${info.warmupCandles} warm-up)  ` +
      `fee ${num(info.feeRate * 100, 3)}%  slippage ${info.slippageBps} bps  balance ${num(info.initialBalance)} ${quote}  ` +
      `intrabar ${intrabar}`,
  );
  out.push("");
  out.push("Metrics");
  const rows: [string, string][] = [
    ["Net profit", `${num(m.netProfit)} ${quote}`],
    ["Total return", `${num(m.totalReturnPct)} %`],
    ["CAGR", `${num(m.cagrPct)} %`],
    ["Max drawdown", `${num(m.maxDrawdownPct)} %`],
    ["Max drawdown duration", duration(m.maxDrawdownDurationMs)],
    ["Trades", String(m.trades)],
    ["Win rate", `${num(m.winRatePct)} %`],
    ["Profit factor", ratio(m.profitFactor)],
    ["Expectancy", `${num(m.expectancy)} ${quote}`],
    ["Avg win / avg loss", `${num(m.avgWin)} / ${num(m.avgLoss)} ${quote}`],
    ["Longest losing streak", String(m.longestLosingStreak)],
    ["Sharpe", ratio(m.sharpe)],
    ["Sortino", ratio(m.sortino)],
    ["Exposure", `${num(m.exposurePct)} %`],
    ["Fees paid", `${num(m.feesPaid)} ${quote}`],
    ["Skipped orders", String(m.skippedOrders)],
    ["Final equity", `${num(m.finalEquity)} ${quote}`],
  ];
  out.push(table(rows, [false, true]).trimEnd());
  out.push("");
  out.push(`Trades (${result.trades.length})`);
  if (result.trades.length > 0) {
    const header = [
      "#",
      "Entry (UTC)",
      "Entry price",
      "Exit (UTC)",
      "Exit price",
      `Qty ${base}`,
      `Fees ${quote}`,
      `P&L ${quote}`,
      "Reason",
    ];
    const trows = result.trades.map((t, i) => [
      String(i + 1),
      formatUtcTime(t.entryTime),
      num(t.entryPrice),
      formatUtcTime(t.exitTime),
      num(t.exitPrice),
      String(t.qty),
      num(t.fees),
      num(t.pnl),
      t.exitReason,
    ]);
    out.push(table([header, ...trows], [true, false, true, false, true, true, true, true, false]).trimEnd());
  }
  out.push("");
  const fed = info.candles + info.warmupCandles;
  out.push(`engine ${num(engineMs, 1)} ms for ${fed.toLocaleString("en-US")} candles`);
  return out.join("\n") + "\n";
}
