// Every environment variable AURA reads is parsed here, with its default and accepted range; the
// README's configuration table mirrors it. Feature code calls a reader (readEnv, authConfig, …)
// and never touches process.env, so a value means the same thing in every service that reads it.
// A process validates the whole configuration once at start (validateConfig) and refuses to run
// with every bad variable listed.
import { readEnv, type AuraEnv } from "./env";
import {
  authConfig,
  backtestConfig,
  executionConfig,
  exchangeConfig,
  gatewayConfig,
  keysConfig,
  marketDataConfig,
  monitorConfig,
  portfolioConfig,
  secretsConfig,
  simConfig,
  strategiesConfig,
  strategyRuntimeConfig,
  type AuthConfig,
  type BacktestConfig,
  type ExecutionConfig,
  type ExchangeConfig,
  type GatewayConfig,
  type KeysConfig,
  type MarketDataConfig,
  type MonitorConfig,
  type PortfolioConfig,
  type SecretsConfig,
  type SimConfig,
  type StrategiesConfig,
  type StrategyRuntimeConfig,
} from "./features";
import { ConfigError, type ConfigProblem } from "./readers";
import { transportConfig, type TransportConfig } from "./transport";

export * from "./env";
export * from "./features";
export * from "./transport";
export {
  ConfigError,
  EnvReader,
  maskCredentials,
  MAX_TIMER_MS,
  VARIABLES,
  type ConfigProblem,
  type VariableName,
} from "./readers";

export interface AuraConfig {
  runtime: AuraEnv;
  bus: TransportConfig;
  secrets: SecretsConfig;
  auth: AuthConfig;
  gateway: GatewayConfig;
  keys: KeysConfig;
  exchange: ExchangeConfig;
  marketData: MarketDataConfig;
  sim: SimConfig;
  backtest: BacktestConfig;
  strategies: StrategiesConfig;
  strategyRuntime: StrategyRuntimeConfig;
  monitor: MonitorConfig;
  execution: ExecutionConfig;
  portfolio: PortfolioConfig;
}

/**
 * The services that sign tokens or seal and open exchange keys (strategies seals the paper accounts
 * it creates, portfolio reads balances with the user's keys, alerts seals webhook secrets); only
 * their processes need the secrets.
 */
export const SERVICES_USING_SECRETS = [
  "api",
  "auth",
  "keys",
  "strategies",
  "execution",
  "portfolio",
  "alerts",
];

/**
 * Runs every reader and throws one ConfigError listing every bad variable (each once, even when
 * several features read it), so an operator fixes them in one go. With `availableServices`, the
 * names in SERVICES are checked against it too.
 */
export function validateConfig(
  env: NodeJS.ProcessEnv = process.env,
  opts: { availableServices?: string[] } = {},
): AuraConfig {
  const problems: ConfigProblem[] = [];
  const read = <T>(reader: (env: NodeJS.ProcessEnv) => T): T => {
    try {
      return reader(env);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const p of e.problems)
        if (!problems.some((q) => q.variable === p.variable && q.message === p.message)) problems.push(p);
      // the rest of what the reader read, so the checks below still see every other variable
      return e.partial as T;
    }
  };
  const runtime = read(readEnv);
  const unknown = (runtime.services ?? []).filter(
    (s) => opts.availableServices && !opts.availableServices.includes(s),
  );
  if (unknown.length)
    problems.push({
      variable: "SERVICES",
      message: `SERVICES names unknown service(s): ${unknown.join(", ")}; available: ${opts.availableServices!.join(", ")}`,
    });
  if (runtime.production && !runtime.databaseUrl && !problems.some((p) => p.variable === "DATABASE_URL"))
    // an embedded database inside a container's filesystem would lose every order and key on redeploy
    problems.push({
      variable: "DATABASE_URL",
      message:
        "NODE_ENV=production requires DATABASE_URL (a PostgreSQL server); the embedded database is for development only",
    });
  // a production market-data or backtest process need not hold the master key
  const usesSecrets =
    runtime.services === undefined || runtime.services.some((s) => SERVICES_USING_SECRETS.includes(s));
  const config: AuraConfig = {
    runtime,
    bus: read(transportConfig),
    secrets: read((e) => secretsConfig(e, usesSecrets ? {} : { required: false })),
    auth: read(authConfig),
    gateway: read(gatewayConfig),
    keys: read(keysConfig),
    exchange: read(exchangeConfig),
    marketData: read(marketDataConfig),
    sim: read(simConfig),
    backtest: read(backtestConfig),
    strategies: read(strategiesConfig),
    strategyRuntime: read(strategyRuntimeConfig),
    monitor: read(monitorConfig),
    execution: read(executionConfig),
    portfolio: read(portfolioConfig),
  };
  if (problems.length) throw new ConfigError(problems);
  return config;
}
