// `aura data`: history in the `klines` table. `import` downloads klines from the exchange
// (weight-governed, resumable, progress on a terminal); `load` reads klines files in the bundled
// format; `status` lists what is stored. All open the database like `aura migrate` does.
import { Command, InvalidArgumentError } from "commander";
import type { ImportProgress } from "../../adapters/market/import";
import { FIXED_INTERVALS } from "../../core/market/symbols";

/** YYYY-MM-DD (UTC day), an ISO date-time, or epoch ms. `endOfDay` makes a bare date inclusive. */
export function parseWhen(v: string, endOfDay = false): number {
  const s = v.trim();
  if (/^\d{9,16}$/.test(s)) return Number(s);
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) {
    const t = Date.parse(`${s}T00:00:00Z`);
    if (Number.isNaN(t)) throw new InvalidArgumentError(`'${v}' is not a date`);
    return endOfDay ? t + 86_400_000 - 1 : t;
  }
  const t = Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(s) ? s : `${s}Z`);
  if (Number.isNaN(t))
    throw new InvalidArgumentError(`'${v}' is not a date (use 2023-01-01, 2023-01-01T12:00:00Z or epoch ms)`);
  return t;
}

function interval(v: string): string {
  if (!FIXED_INTERVALS.includes(v))
    throw new InvalidArgumentError(`must be one of ${FIXED_INTERVALS.join(", ")}`);
  return v;
}

function symbol(v: string): string {
  const s = v.trim().toUpperCase();
  if (!/^[A-Z0-9]{2,20}$/.test(s))
    throw new InvalidArgumentError("must be an exchange symbol such as BTCUSDT");
  return s;
}

function progressBar(p: ImportProgress, startedAt: number): string {
  const width = 30;
  const frac = p.total ? Math.min(1, p.done / p.total) : 1;
  const filled = Math.round(frac * width);
  const secs = (Date.now() - startedAt) / 1000;
  const rate = secs > 0 ? p.fetched / secs : 0;
  const left = rate > 0 ? Math.max(0, (p.total - p.done) / rate) : 0;
  const at = new Date(p.position).toISOString().slice(0, 16).replace("T", " ");
  return `\r${p.symbol} ${p.interval} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${(frac * 100).toFixed(1)}% ${p.done}/${p.total} at ${at} ${Math.round(rate)}/s ETA ${Math.round(left)}s${p.waitedMs ? ` (waited ${Math.round(p.waitedMs / 1000)}s for rate limits)` : ""}   `;
}

export function register(program: Command): void {
  const data = program
    .command("data")
    .description("Market history in the database: import from the exchange, load klines files, status");

  data
    .command("import")
    .description(
      "Download klines from the exchange into the database (resumable: a rerun continues after the newest stored candle)",
    )
    .requiredOption("--symbol <symbol>", "exchange symbol, e.g. BTCUSDT", symbol)
    .requiredOption("--interval <interval>", `kline interval (${FIXED_INTERVALS.join(", ")})`, interval)
    .requiredOption("--from <date>", "first day (UTC, inclusive), ISO time or epoch ms")
    .option("--to <date>", "last day (UTC, inclusive), ISO time or epoch ms (default: now)")
    .option("--exchange <kind>", "sim | binance | binance-testnet (default: EXCHANGE, else sim)")
    .option("--json", "print the summary as JSON")
    .action(
      async (opts: {
        symbol: string;
        interval: string;
        from: string;
        to?: string;
        exchange?: string;
        json?: boolean;
      }) => {
        const from = parseWhen(opts.from);
        const to = opts.to ? parseWhen(opts.to, true) : Date.now();
        if (from > to)
          throw new Error(
            `--from (${new Date(from).toISOString()}) is after --to (${new Date(to).toISOString()})`,
          );
        const { endpointsFor, parseExchangeKind } =
          require("../../adapters/exchange/config") as typeof import("../../adapters/exchange/config");
        const { MarketRest } =
          require("../../adapters/exchange/market-rest") as typeof import("../../adapters/exchange/market-rest");
        const { importHistory } =
          require("../../adapters/market/import") as typeof import("../../adapters/market/import");
        const { KlineStore } =
          require("../../adapters/market/kline-store") as typeof import("../../adapters/market/kline-store");
        const { openDatabase } =
          require("../../adapters/storage/database") as typeof import("../../adapters/storage/database");
        const { exchangeConfig } = require("../../adapters/config") as typeof import("../../adapters/config");
        const kind = opts.exchange ? parseExchangeKind(opts.exchange, "--exchange") : exchangeConfig().kind;
        const endpoints = endpointsFor(kind);
        // an import is a batch job: it may wait out several 429s rather than give up
        const rest = new MarketRest({ endpoints, rateLimitRetries: 20, retries: 5 });
        const db = await openDatabase({ log: (m: string) => process.stderr.write(m + "\n") });
        const abort = new AbortController();
        const onSignal = () => {
          if (abort.signal.aborted) process.exit(130);
          process.stderr.write(
            "\ninterrupted: finishing the page being written (Ctrl-C again to quit now)\n",
          );
          abort.abort();
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
        const tty = Boolean(process.stderr.isTTY);
        const startedAt = Date.now();
        try {
          process.stderr.write(
            `importing ${opts.symbol} ${opts.interval} ${new Date(from).toISOString()} .. ${new Date(to).toISOString()} from ${endpoints.kind} (${endpoints.restBase})\n`,
          );
          const summary = await importHistory({
            rest,
            store: new KlineStore(db.sequelize),
            symbol: opts.symbol,
            interval: opts.interval,
            from,
            to,
            signal: abort.signal,
            onProgress: tty ? (p) => process.stderr.write(progressBar(p, startedAt)) : undefined,
          });
          if (tty) process.stderr.write("\n");
          if (opts.json) console.log(JSON.stringify(summary));
          else {
            const resumed =
              summary.resumedFrom > summary.from
                ? ` (resumed at ${new Date(summary.resumedFrom).toISOString()})`
                : "";
            console.log(
              `${summary.symbol} ${summary.interval}: ${summary.inserted} new candles stored, ${summary.fetched} fetched in ${summary.requests} requests, ` +
                `${(summary.durationMs / 1000).toFixed(1)} s${resumed}` +
                (summary.exchangeGaps
                  ? `; the exchange has no candles for ${summary.exchangeGaps} open times in the range`
                  : "") +
                (summary.rateLimited ? `; waited out ${summary.rateLimited} rate-limit answers` : "") +
                (summary.endedAt !== undefined && summary.endedAt < summary.to
                  ? `; the exchange has nothing after ${new Date(summary.endedAt).toISOString()} yet`
                  : ""),
            );
          }
          if (summary.interrupted) {
            process.stderr.write(
              "stopped before the end: run the same command again to continue where it stopped\n",
            );
            process.exitCode = 130;
          }
        } finally {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          await db.close();
        }
      },
    );

  data
    .command("load")
    .description(
      "Load klines files in the bundled format (<SYMBOL>/<interval>/*.json, one such folder, or one file) into the database",
    )
    .argument("<path>", "directory or file")
    .option("--symbol <symbol>", "symbol, when the path does not say it", symbol)
    .option("--interval <interval>", "interval, when the path does not say it", interval)
    .option("--json", "print the summary as JSON")
    .action(async (path: string, opts: { symbol?: string; interval?: string; json?: boolean }) => {
      const { loadKlineFiles } =
        require("../../adapters/market/import") as typeof import("../../adapters/market/import");
      const { KlineStore } =
        require("../../adapters/market/kline-store") as typeof import("../../adapters/market/kline-store");
      const { openDatabase } =
        require("../../adapters/storage/database") as typeof import("../../adapters/storage/database");
      const db = await openDatabase({ log: (m: string) => process.stderr.write(m + "\n") });
      try {
        const summary = await loadKlineFiles(new KlineStore(db.sequelize), path, {
          symbol: opts.symbol,
          interval: opts.interval,
        });
        if (opts.json) console.log(JSON.stringify(summary));
        else {
          for (const s of summary.series) {
            console.log(
              `${s.symbol} ${s.interval}: ${s.rows} candles read, ${s.inserted} new (${new Date(s.first).toISOString()} .. ${new Date(s.last).toISOString()})`,
            );
          }
          console.log(`done in ${(summary.durationMs / 1000).toFixed(1)} s`);
        }
      } finally {
        await db.close();
      }
    });

  data
    .command("status")
    .description("List the stored kline series with their first and last candle")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }) => {
      const { KlineStore } =
        require("../../adapters/market/kline-store") as typeof import("../../adapters/market/kline-store");
      const { openDatabase } =
        require("../../adapters/storage/database") as typeof import("../../adapters/storage/database");
      const db = await openDatabase({ log: (m: string) => process.stderr.write(m + "\n") });
      try {
        const series = await new KlineStore(db.sequelize).series();
        if (opts.json) console.log(JSON.stringify(series));
        else if (series.length === 0) console.log("no klines stored");
        else
          for (const s of series)
            console.log(
              `${s.symbol} ${s.interval}: ${s.count} candles, ${new Date(s.first).toISOString()} .. ${new Date(s.last).toISOString()}`,
            );
      } finally {
        await db.close();
      }
    });
}
