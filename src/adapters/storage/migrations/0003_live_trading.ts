// Live and paper trading: strategy versions and the state an actor resumes from, the decision
// log (one decision per instance and candle, enforced here), leases with fencing tokens that
// only grow, paper accounts, order intents with their fencing token, protection state on
// positions, per account×symbol execution guards, cluster-wide trading flags, and market-data
// stream ownership.
import type { Migration } from "../migrator";

const UP = `
-- a definition is never edited in place: an update stores a new version, and a running instance
-- keeps the version it was started with
CREATE TABLE strategy_versions (
  strategy_id BIGINT NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
  version     INTEGER NOT NULL,
  definition  JSONB NOT NULL,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (strategy_id, version)
);
INSERT INTO strategy_versions (strategy_id, version, definition)
  SELECT id, version, definition FROM strategies;

ALTER TABLE strategies
  ADD COLUMN paused           BOOLEAN NOT NULL DEFAULT false,
  ADD COLUMN active_version   INTEGER,
  ADD COLUMN status_reason    TEXT,
  ADD COLUMN activated_at     TIMESTAMPTZ,
  ADD COLUMN close_on_stop    BOOLEAN NOT NULL DEFAULT false,
  -- open time of the last candle the instance decided on: a successor resumes after it
  ADD COLUMN last_candle_time BIGINT,
  ADD COLUMN crash_count      INTEGER NOT NULL DEFAULT 0;

-- fencing tokens come from one sequence, so a token taken later is always larger
CREATE SEQUENCE strategy_fencing_seq;
ALTER TABLE strategy_leases ALTER COLUMN fencing_token SET DEFAULT nextval('strategy_fencing_seq');

CREATE TABLE strategy_decisions (
  id               BIGSERIAL PRIMARY KEY,
  user_id          BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  strategy_id      BIGINT NOT NULL REFERENCES strategies (id) ON DELETE CASCADE,
  kind             TEXT NOT NULL CHECK (kind IN ('decision', 'lifecycle', 'order', 'error')),
  level            TEXT NOT NULL DEFAULT 'info' CHECK (level IN ('debug', 'info', 'warn', 'error', 'fatal')),
  candle_open_time BIGINT,
  action           TEXT,
  message          TEXT NOT NULL,
  data             JSONB,
  fencing_token    BIGINT,
  node_id          TEXT,
  time             TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- the one place that makes "never act twice on one candle" hold across failovers
CREATE UNIQUE INDEX strategy_decisions_one_per_candle ON strategy_decisions (strategy_id, candle_open_time)
  WHERE kind = 'decision';
-- the decision log pages by id (keyset), newest first
CREATE INDEX strategy_decisions_strategy_id_idx ON strategy_decisions (strategy_id, id DESC);
CREATE INDEX strategy_decisions_user_time_idx ON strategy_decisions (user_id, time DESC, id DESC);

-- paper accounts are exchange keys on the simulator venue that AURA created for the user
ALTER TABLE user_api_keys ADD COLUMN paper BOOLEAN NOT NULL DEFAULT false;
CREATE UNIQUE INDEX user_api_keys_one_paper_account ON user_api_keys (user_id) WHERE paper;

ALTER TABLE orders
  ADD COLUMN fencing_token  BIGINT,
  ADD COLUMN candle_open    BIGINT,
  ADD COLUMN origin         TEXT NOT NULL DEFAULT 'aura' CHECK (origin IN ('aura', 'adopted', 'external')),
  ADD COLUMN lookups        INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN submitted_at   TIMESTAMPTZ,
  ADD COLUMN deny_reason    TEXT,
  -- what the intent asked for (sizing, protection, reason): reconciliation protects an entry that
  -- filled while no process was there to do it
  ADD COLUMN params         JSONB;
ALTER TABLE orders DROP CONSTRAINT orders_strategy_id_intent_id_key;
-- one order per intent and leg: a repeated submit finds the first
CREATE UNIQUE INDEX orders_intent_role_key ON orders (intent_id, role) WHERE origin = 'aura';

-- a trade id is unique per symbol on the venue, but both sides of one trade can be AURA accounts:
-- a fill is identified by its order and the venue's trade id
ALTER TABLE fills DROP CONSTRAINT fills_symbol_exchange_trade_id_key;
CREATE UNIQUE INDEX fills_order_trade_key ON fills (order_id, exchange_trade_id);

ALTER TABLE order_lists
  ADD COLUMN intent_id TEXT,
  ADD COLUMN state     TEXT NOT NULL DEFAULT 'PENDING',
  ADD COLUMN position_id BIGINT REFERENCES positions (id) ON DELETE SET NULL;

ALTER TABLE positions
  ADD COLUMN intent_id        TEXT,
  ADD COLUMN exit_reason      TEXT,
  ADD COLUMN exit_fees        NUMERIC(30, 10) NOT NULL DEFAULT 0,
  ADD COLUMN protected_at     TIMESTAMPTZ,
  ADD COLUMN entry_candle     BIGINT;
CREATE UNIQUE INDEX positions_intent_key ON positions (intent_id) WHERE intent_id IS NOT NULL;

-- at most one order in flight per account and symbol anywhere in the cluster: the guard row is
-- taken with a fencing token before an order leaves and released when its outcome is known
CREATE TABLE execution_guards (
  api_key_id    BIGINT NOT NULL REFERENCES user_api_keys (id) ON DELETE CASCADE,
  symbol        TEXT NOT NULL,
  owner_node    TEXT,
  fencing_token BIGINT NOT NULL DEFAULT 0,
  intent_id     TEXT,
  expires_at    TIMESTAMPTZ,
  PRIMARY KEY (api_key_id, symbol)
);

-- cluster-wide switches an operator flips (halt: no new entries anywhere)
CREATE TABLE trading_flags (
  name       TEXT PRIMARY KEY,
  value      BOOLEAN NOT NULL,
  reason     TEXT,
  changed_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
  changed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- which market-data node streams a series, and who wants it: a dead owner's streams move
CREATE TABLE market_streams (
  symbol        TEXT NOT NULL,
  interval      TEXT NOT NULL,
  owner_node    TEXT,
  fencing_token BIGINT NOT NULL DEFAULT 0,
  expires_at    TIMESTAMPTZ,
  PRIMARY KEY (symbol, interval)
);
CREATE TABLE market_subscriptions (
  symbol      TEXT NOT NULL,
  interval    TEXT NOT NULL,
  subscriber  TEXT NOT NULL,
  -- a strategy's subscription lives as long as the strategy's lease; null: until unsubscribed
  strategy_id BIGINT REFERENCES strategies (id) ON DELETE CASCADE,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (symbol, interval, subscriber)
);

CREATE TABLE alerts (
  id           BIGSERIAL PRIMARY KEY,
  user_id      BIGINT REFERENCES users (id) ON DELETE CASCADE,
  strategy_id  BIGINT REFERENCES strategies (id) ON DELETE SET NULL,
  kind         TEXT NOT NULL,
  severity     TEXT NOT NULL DEFAULT 'warn' CHECK (severity IN ('info', 'warn', 'error', 'critical')),
  message      TEXT NOT NULL,
  data         JSONB,
  dedupe_key   TEXT,
  acknowledged_at TIMESTAMPTZ,
  created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX alerts_user_created_idx ON alerts (user_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX alerts_open_dedupe_key ON alerts (dedupe_key) WHERE acknowledged_at IS NULL AND dedupe_key IS NOT NULL;
`;

const DOWN = `
DROP TABLE IF EXISTS alerts, market_subscriptions, market_streams, trading_flags, execution_guards;
DROP INDEX IF EXISTS positions_intent_key;
ALTER TABLE positions DROP COLUMN IF EXISTS intent_id, DROP COLUMN IF EXISTS exit_reason,
  DROP COLUMN IF EXISTS exit_fees, DROP COLUMN IF EXISTS protected_at, DROP COLUMN IF EXISTS entry_candle;
ALTER TABLE order_lists DROP COLUMN IF EXISTS intent_id, DROP COLUMN IF EXISTS state, DROP COLUMN IF EXISTS position_id;
DROP INDEX IF EXISTS fills_order_trade_key;
ALTER TABLE fills ADD CONSTRAINT fills_symbol_exchange_trade_id_key UNIQUE (symbol, exchange_trade_id);
DROP INDEX IF EXISTS orders_intent_role_key;
ALTER TABLE orders ADD CONSTRAINT orders_strategy_id_intent_id_key UNIQUE (strategy_id, intent_id);
ALTER TABLE orders DROP COLUMN IF EXISTS fencing_token, DROP COLUMN IF EXISTS candle_open, DROP COLUMN IF EXISTS origin,
  DROP COLUMN IF EXISTS lookups, DROP COLUMN IF EXISTS submitted_at, DROP COLUMN IF EXISTS deny_reason,
  DROP COLUMN IF EXISTS params;
DROP INDEX IF EXISTS user_api_keys_one_paper_account;
ALTER TABLE user_api_keys DROP COLUMN IF EXISTS paper;
DROP TABLE IF EXISTS strategy_decisions;
ALTER TABLE strategy_leases ALTER COLUMN fencing_token SET DEFAULT 1;
DROP SEQUENCE IF EXISTS strategy_fencing_seq;
ALTER TABLE strategies DROP COLUMN IF EXISTS paused, DROP COLUMN IF EXISTS active_version,
  DROP COLUMN IF EXISTS status_reason, DROP COLUMN IF EXISTS activated_at, DROP COLUMN IF EXISTS close_on_stop,
  DROP COLUMN IF EXISTS last_candle_time, DROP COLUMN IF EXISTS crash_count;
DROP TABLE IF EXISTS strategy_versions;
`;

export const migration: Migration = {
  name: "0003_live_trading",
  async up({ context }) {
    await context.sequelize.query(UP);
  },
  async down({ context }) {
    await context.sequelize.query(DOWN);
  },
};
