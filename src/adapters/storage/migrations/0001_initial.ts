// The first schema of AURA (docs/architecture.md). Released migrations are never edited: later changes
// go in new files. Money and quantities are NUMERIC; times the exchange gives in epoch ms stay
// BIGINT, our own timestamps are timestamptz.
import type { Migration } from "../migrator";

const UP = `
CREATE TABLE users (
  id            BIGSERIAL PRIMARY KEY,
  email         TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
  status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until  TIMESTAMPTZ,
  last_login_at TIMESTAMPTZ,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE refresh_tokens (
  id             BIGSERIAL PRIMARY KEY,
  user_id        BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  family_id      UUID NOT NULL,
  token_hash     TEXT NOT NULL,
  parent_id      BIGINT REFERENCES refresh_tokens (id) ON DELETE SET NULL,
  replaced_by_id BIGINT REFERENCES refresh_tokens (id) ON DELETE SET NULL,
  expires_at     TIMESTAMPTZ NOT NULL,
  used_at        TIMESTAMPTZ,
  revoked_at     TIMESTAMPTZ,
  revoked_reason TEXT,
  ip             TEXT,
  user_agent     TEXT,
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX refresh_tokens_user_id_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_id_idx ON refresh_tokens (family_id);

CREATE TABLE user_api_keys (
  id              BIGSERIAL PRIMARY KEY,
  user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  label           TEXT NOT NULL,
  exchange        TEXT NOT NULL CHECK (exchange IN ('binance', 'binance-testnet', 'sim')),
  api_key_enc     TEXT NOT NULL,
  api_secret_enc  TEXT NOT NULL,
  enc_key_id      TEXT NOT NULL,
  api_key_last4   TEXT NOT NULL,
  permissions     JSONB,
  status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'valid', 'invalid', 'disabled')),
  status_reason   TEXT,
  validated_at    TIMESTAMPTZ,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT user_api_keys_user_id_label_key UNIQUE (user_id, label)
);
CREATE INDEX user_api_keys_enc_key_id_idx ON user_api_keys (enc_key_id);

CREATE TABLE strategies (
  id          BIGSERIAL PRIMARY KEY,
  user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  api_key_id  BIGINT REFERENCES user_api_keys (id) ON DELETE SET NULL,
  name        TEXT NOT NULL,
  symbol      TEXT NOT NULL,
  interval    TEXT NOT NULL,
  definition  JSONB NOT NULL,
  mode        TEXT NOT NULL DEFAULT 'paper' CHECK (mode IN ('paper', 'live')),
  status      TEXT NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'stopping', 'stopped', 'error')),
  state       JSONB,
  version     INTEGER NOT NULL DEFAULT 1,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX strategies_user_id_created_idx ON strategies (user_id, created_at DESC, id DESC);
CREATE INDEX strategies_status_idx ON strategies (status) WHERE status = 'active';

CREATE TABLE strategy_leases (
  strategy_id    BIGINT PRIMARY KEY REFERENCES strategies (id) ON DELETE CASCADE,
  owner_node     TEXT NOT NULL,
  fencing_token  BIGINT NOT NULL DEFAULT 1,
  acquired_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX strategy_leases_expires_at_idx ON strategy_leases (expires_at);
CREATE INDEX strategy_leases_owner_node_idx ON strategy_leases (owner_node);

CREATE TABLE klines (
  symbol          TEXT NOT NULL,
  interval        TEXT NOT NULL,
  open_time       BIGINT NOT NULL,
  close_time      BIGINT NOT NULL,
  open            NUMERIC(30, 10) NOT NULL,
  high            NUMERIC(30, 10) NOT NULL,
  low             NUMERIC(30, 10) NOT NULL,
  close           NUMERIC(30, 10) NOT NULL,
  volume          NUMERIC(38, 10) NOT NULL,
  quote_volume    NUMERIC(38, 10) NOT NULL DEFAULT 0,
  trades          INTEGER NOT NULL DEFAULT 0,
  taker_buy_base  NUMERIC(38, 10) NOT NULL DEFAULT 0,
  taker_buy_quote NUMERIC(38, 10) NOT NULL DEFAULT 0,
  CONSTRAINT klines_symbol_interval_open_time_key UNIQUE (symbol, interval, open_time)
);

CREATE TABLE order_lists (
  id                     BIGSERIAL PRIMARY KEY,
  user_id                BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  strategy_id            BIGINT REFERENCES strategies (id) ON DELETE SET NULL,
  api_key_id             BIGINT REFERENCES user_api_keys (id) ON DELETE SET NULL,
  symbol                 TEXT NOT NULL,
  list_client_order_id   TEXT NOT NULL,
  exchange_order_list_id TEXT,
  contingency_type       TEXT NOT NULL DEFAULT 'OCO',
  list_status_type       TEXT,
  list_order_status      TEXT,
  quantity               NUMERIC(30, 10) NOT NULL,
  take_profit_price      NUMERIC(30, 10),
  stop_price             NUMERIC(30, 10),
  stop_limit_price       NUMERIC(30, 10),
  created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT order_lists_list_client_order_id_key UNIQUE (list_client_order_id)
);
CREATE INDEX order_lists_user_id_created_idx ON order_lists (user_id, created_at DESC, id DESC);

CREATE TABLE orders (
  id                 BIGSERIAL PRIMARY KEY,
  user_id            BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  strategy_id        BIGINT REFERENCES strategies (id) ON DELETE SET NULL,
  api_key_id         BIGINT REFERENCES user_api_keys (id) ON DELETE SET NULL,
  order_list_id      BIGINT REFERENCES order_lists (id) ON DELETE SET NULL,
  intent_id          TEXT NOT NULL,
  client_order_id    TEXT NOT NULL,
  exchange_order_id  TEXT,
  symbol             TEXT NOT NULL,
  side               TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
  type               TEXT NOT NULL,
  role               TEXT NOT NULL DEFAULT 'entry',
  time_in_force      TEXT,
  quantity           NUMERIC(30, 10),
  quote_order_qty    NUMERIC(30, 10),
  price              NUMERIC(30, 10),
  stop_price         NUMERIC(30, 10),
  state              TEXT NOT NULL DEFAULT 'PENDING',
  exchange_status    TEXT,
  filled_qty         NUMERIC(30, 10) NOT NULL DEFAULT 0,
  cumulative_quote   NUMERIC(30, 10) NOT NULL DEFAULT 0,
  reject_code        TEXT,
  reject_reason      TEXT,
  version            INTEGER NOT NULL DEFAULT 0,
  candle_time        BIGINT,
  created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT orders_client_order_id_key UNIQUE (client_order_id),
  CONSTRAINT orders_strategy_id_intent_id_key UNIQUE (strategy_id, intent_id)
);
CREATE INDEX orders_user_id_created_idx ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_open_state_idx ON orders (api_key_id, symbol, state)
  WHERE state NOT IN ('FILLED', 'CANCELED', 'REJECTED', 'EXPIRED', 'NOT_PLACED');
CREATE INDEX orders_exchange_order_id_idx ON orders (symbol, exchange_order_id);
CREATE INDEX orders_order_list_id_idx ON orders (order_list_id);

CREATE TABLE fills (
  id                BIGSERIAL PRIMARY KEY,
  order_id          BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  user_id           BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  symbol            TEXT NOT NULL,
  exchange_trade_id TEXT NOT NULL,
  side              TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
  price             NUMERIC(30, 10) NOT NULL,
  qty               NUMERIC(30, 10) NOT NULL,
  quote_qty         NUMERIC(30, 10) NOT NULL,
  commission        NUMERIC(30, 10) NOT NULL DEFAULT 0,
  commission_asset  TEXT,
  is_maker          BOOLEAN NOT NULL DEFAULT false,
  executed_at       TIMESTAMPTZ NOT NULL,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT fills_symbol_exchange_trade_id_key UNIQUE (symbol, exchange_trade_id)
);
CREATE INDEX fills_order_id_idx ON fills (order_id);
CREATE INDEX fills_user_id_executed_idx ON fills (user_id, executed_at DESC, id DESC);

CREATE TABLE positions (
  id                BIGSERIAL PRIMARY KEY,
  user_id           BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  strategy_id       BIGINT REFERENCES strategies (id) ON DELETE SET NULL,
  api_key_id        BIGINT REFERENCES user_api_keys (id) ON DELETE SET NULL,
  entry_order_id    BIGINT REFERENCES orders (id) ON DELETE SET NULL,
  order_list_id     BIGINT REFERENCES order_lists (id) ON DELETE SET NULL,
  symbol            TEXT NOT NULL,
  side              TEXT NOT NULL DEFAULT 'LONG' CHECK (side IN ('LONG')),
  status            TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  protection        TEXT NOT NULL DEFAULT 'pending' CHECK (protection IN ('pending', 'protected', 'unprotected', 'none')),
  qty               NUMERIC(30, 10) NOT NULL,
  entry_price       NUMERIC(30, 10) NOT NULL,
  entry_fees        NUMERIC(30, 10) NOT NULL DEFAULT 0,
  exit_price        NUMERIC(30, 10),
  realized_pnl      NUMERIC(30, 10),
  opened_at         TIMESTAMPTZ NOT NULL,
  closed_at         TIMESTAMPTZ,
  updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX positions_user_id_status_idx ON positions (user_id, status, opened_at DESC);
CREATE INDEX positions_strategy_id_status_idx ON positions (strategy_id, status);

CREATE TABLE trades (
  id           BIGSERIAL PRIMARY KEY,
  user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  strategy_id  BIGINT REFERENCES strategies (id) ON DELETE SET NULL,
  position_id  BIGINT REFERENCES positions (id) ON DELETE SET NULL,
  symbol       TEXT NOT NULL,
  side         TEXT NOT NULL DEFAULT 'LONG',
  qty          NUMERIC(30, 10) NOT NULL,
  entry_time   TIMESTAMPTZ NOT NULL,
  entry_price  NUMERIC(30, 10) NOT NULL,
  exit_time    TIMESTAMPTZ NOT NULL,
  exit_price   NUMERIC(30, 10) NOT NULL,
  fees         NUMERIC(30, 10) NOT NULL DEFAULT 0,
  pnl          NUMERIC(30, 10) NOT NULL,
  exit_reason  TEXT NOT NULL,
  created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT trades_position_id_key UNIQUE (position_id)
);
CREATE INDEX trades_user_id_exit_idx ON trades (user_id, exit_time DESC, id DESC);
CREATE INDEX trades_user_id_symbol_exit_idx ON trades (user_id, symbol, exit_time DESC);
CREATE INDEX trades_strategy_id_exit_idx ON trades (strategy_id, exit_time DESC);

CREATE TABLE backtest_results (
  id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  strategy_id     BIGINT REFERENCES strategies (id) ON DELETE SET NULL,
  cache_key       TEXT NOT NULL,
  engine_version  TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'completed', 'failed')),
  progress        REAL NOT NULL DEFAULT 0,
  params          JSONB NOT NULL,
  definition      JSONB NOT NULL,
  metrics         JSONB,
  result          JSONB,
  error           TEXT,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  started_at      TIMESTAMPTZ,
  finished_at     TIMESTAMPTZ
);
CREATE INDEX backtest_results_user_id_created_idx ON backtest_results (user_id, created_at DESC, id);
CREATE INDEX backtest_results_cache_key_idx ON backtest_results (cache_key) WHERE status = 'completed';

CREATE TABLE equity_snapshots (
  id           BIGSERIAL PRIMARY KEY,
  user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  strategy_id  BIGINT REFERENCES strategies (id) ON DELETE CASCADE,
  time         TIMESTAMPTZ NOT NULL,
  equity       NUMERIC(30, 10) NOT NULL,
  balances     JSONB
);
CREATE INDEX equity_snapshots_user_id_time_idx ON equity_snapshots (user_id, time DESC);
CREATE INDEX equity_snapshots_strategy_id_time_idx ON equity_snapshots (strategy_id, time DESC);

CREATE TABLE system_logs (
  id          BIGSERIAL PRIMARY KEY,
  time        TIMESTAMPTZ NOT NULL DEFAULT now(),
  level       TEXT NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error', 'fatal')),
  node_id     TEXT,
  service     TEXT,
  module      TEXT,
  message     TEXT NOT NULL,
  request_id  TEXT,
  user_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
  strategy_id BIGINT REFERENCES strategies (id) ON DELETE SET NULL,
  context     JSONB
);
CREATE INDEX system_logs_time_idx ON system_logs (time DESC);
CREATE INDEX system_logs_level_time_idx ON system_logs (level, time DESC);
CREATE INDEX system_logs_strategy_id_time_idx ON system_logs (strategy_id, time DESC) WHERE strategy_id IS NOT NULL;

CREATE TABLE audit_log (
  id           BIGSERIAL PRIMARY KEY,
  time         TIMESTAMPTZ NOT NULL DEFAULT now(),
  user_id      BIGINT REFERENCES users (id) ON DELETE SET NULL,
  actor_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
  action       TEXT NOT NULL,
  target_type  TEXT,
  target_id    TEXT,
  outcome      TEXT NOT NULL DEFAULT 'success' CHECK (outcome IN ('success', 'failure')),
  ip           TEXT,
  user_agent   TEXT,
  request_id   TEXT,
  details      JSONB
);
CREATE INDEX audit_log_user_id_time_idx ON audit_log (user_id, time DESC);
CREATE INDEX audit_log_action_time_idx ON audit_log (action, time DESC);
`;

const DOWN = `
DROP TABLE IF EXISTS audit_log, system_logs, equity_snapshots, backtest_results, trades, positions, fills,
  orders, order_lists, klines, strategy_leases, strategies, user_api_keys, refresh_tokens, users CASCADE;
`;

export const migration: Migration = {
  name: "0001_initial",
  async up({ context }) {
    await context.sequelize.query(UP);
  },
  async down({ context }) {
    await context.sequelize.query(DOWN);
  },
};
