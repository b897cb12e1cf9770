// Portfolio, history and alerts: the indexes the history pages walk (keyset, newest first, per
// filter), equity snapshots per trading mode, delivery bookkeeping for alerts that were stored
// without being pushed, and one alert webhook per user.
import type { Migration } from "../migrator";

const UP = `
-- history pages are keyset walks on (time, id), newest first, scoped to a user; a filter on one
-- of these columns walks its own index instead of filtering the user's whole history
CREATE INDEX trades_user_symbol_exit_id_idx ON trades (user_id, symbol, exit_time DESC, id DESC);
CREATE INDEX trades_user_strategy_exit_id_idx ON trades (user_id, strategy_id, exit_time DESC, id DESC);
CREATE INDEX trades_user_reason_exit_id_idx ON trades (user_id, exit_reason, exit_time DESC, id DESC);
CREATE INDEX orders_user_symbol_created_id_idx ON orders (user_id, symbol, created_at DESC, id DESC);
CREATE INDEX orders_user_strategy_created_id_idx ON orders (user_id, strategy_id, created_at DESC, id DESC);
CREATE INDEX orders_user_state_created_id_idx ON orders (user_id, state, created_at DESC, id DESC);
-- a trade carries its position's key, so the mode filter (the key's paper flag) needs no join per
-- row; execution inserts trades without it and the trigger copies it from the position
ALTER TABLE trades ADD COLUMN api_key_id BIGINT REFERENCES user_api_keys (id) ON DELETE SET NULL;
UPDATE trades t SET api_key_id = p.api_key_id FROM positions p WHERE p.id = t.position_id;
CREATE FUNCTION aura_trade_api_key() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW.api_key_id IS NULL AND NEW.position_id IS NOT NULL THEN
    SELECT api_key_id INTO NEW.api_key_id FROM positions WHERE id = NEW.position_id;
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER trades_api_key BEFORE INSERT ON trades FOR EACH ROW EXECUTE FUNCTION aura_trade_api_key();
CREATE INDEX system_logs_user_time_idx ON system_logs (user_id, time DESC, id DESC) WHERE user_id IS NOT NULL;

-- account-level snapshots carry the trading mode of the keys they add up (live or paper)
ALTER TABLE equity_snapshots ADD COLUMN mode TEXT CHECK (mode IN ('live', 'paper'));
CREATE INDEX equity_snapshots_user_mode_time_idx ON equity_snapshots (user_id, mode, time)
  WHERE strategy_id IS NULL;

-- an alert is pushed (dashboard, webhook) once: rows other services stored without pushing are
-- picked up by the alerts service
ALTER TABLE alerts ADD COLUMN notified_at TIMESTAMPTZ;
-- alerts from before this migration are history, not news
UPDATE alerts SET notified_at = created_at;
CREATE INDEX alerts_unnotified_idx ON alerts (id) WHERE notified_at IS NULL;
CREATE INDEX alerts_system_created_idx ON alerts (created_at DESC, id DESC) WHERE user_id IS NULL;

CREATE TABLE alert_webhooks (
  user_id        BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  url            TEXT NOT NULL,
  -- the signing secret, sealed with the master key like exchange secrets
  secret_enc     TEXT NOT NULL,
  enc_key_id     TEXT NOT NULL,
  last_status    TEXT,
  last_error     TEXT,
  last_delivery_at TIMESTAMPTZ,
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
`;

const DOWN = `
DROP TABLE IF EXISTS alert_webhooks;
DROP INDEX IF EXISTS alerts_system_created_idx;
DROP INDEX IF EXISTS alerts_unnotified_idx;
ALTER TABLE alerts DROP COLUMN IF EXISTS notified_at;
DROP INDEX IF EXISTS equity_snapshots_user_mode_time_idx;
ALTER TABLE equity_snapshots DROP COLUMN IF EXISTS mode;
DROP INDEX IF EXISTS system_logs_user_time_idx;
DROP TRIGGER IF EXISTS trades_api_key ON trades;
DROP FUNCTION IF EXISTS aura_trade_api_key();
ALTER TABLE trades DROP COLUMN IF EXISTS api_key_id;
DROP INDEX IF EXISTS orders_user_state_created_id_idx;
DROP INDEX IF EXISTS orders_user_strategy_created_id_idx;
DROP INDEX IF EXISTS orders_user_symbol_created_id_idx;
DROP INDEX IF EXISTS trades_user_reason_exit_id_idx;
DROP INDEX IF EXISTS trades_user_strategy_exit_id_idx;
DROP INDEX IF EXISTS trades_user_symbol_exit_id_idx;
`;

export const migration: Migration = {
  name: "0004_history",
  async up({ context }) {
    await context.sequelize.query(UP);
  },
  async down({ context }) {
    await context.sequelize.query(DOWN);
  },
};
