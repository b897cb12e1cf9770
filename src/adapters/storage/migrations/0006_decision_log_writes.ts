// The decision log takes a row per active instance and candle, written in batches by every runner
// the moment a candle closes, so what each row costs to write is paid a thousand times at once.
//
// - Its foreign keys cost two lookups and two row locks per decision: on the owner's users row
//   (the same row for every instance of one user) and on the strategy's row. What they protected
//   holds without them: a decision is only written under the instance's live lease (a
//   strategy_leases row, which does reference its strategy and goes with it), and a strategy is
//   only removed once stopped. What they did on removal is kept: a trigger removes a strategy's
//   decisions with it, and strategies go with their user. user_id stays as the owner scope the
//   log is read by.
// - Each decision also moved strategies.last_candle_time: an update of the strategy's row (its
//   definition included) per instance and candle, a fifth of the batch's cost in PostgreSQL. The
//   log holds the same fact: the last candle of the current run is the newest decision written
//   after the run began. Activation records where the log stood (decision_floor_id) instead of
//   clearing last_candle_time, and readers derive the value (lastCandleSql in
//   src/adapters/strategies/decisions.ts), through the one-decision-per-candle index.
import type { Migration } from "../migrator";

const UP = `
ALTER TABLE strategy_decisions DROP CONSTRAINT IF EXISTS strategy_decisions_user_id_fkey;
ALTER TABLE strategy_decisions DROP CONSTRAINT IF EXISTS strategy_decisions_strategy_id_fkey;
CREATE FUNCTION strategy_decisions_follow_strategy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM strategy_decisions WHERE strategy_id = OLD.id;
  RETURN OLD;
END
$$;
CREATE TRIGGER strategies_remove_decisions AFTER DELETE ON strategies
  FOR EACH ROW EXECUTE FUNCTION strategy_decisions_follow_strategy();

ALTER TABLE strategies ADD COLUMN decision_floor_id BIGINT NOT NULL DEFAULT 0;
-- a run that never decided starts after everything logged; a run that did keeps its decisions, and
-- decisions of older runs on later candles (a replayed venue clock) stay below the floor
UPDATE strategies s SET decision_floor_id = COALESCE(
  (SELECT max(d.id) FROM strategy_decisions d
    WHERE d.strategy_id = s.id AND d.kind = 'decision'
      AND (s.last_candle_time IS NULL OR d.candle_open_time > s.last_candle_time)), 0);
ALTER TABLE strategies DROP COLUMN last_candle_time;
`;

const DOWN = `
ALTER TABLE strategies ADD COLUMN last_candle_time BIGINT;
UPDATE strategies s SET last_candle_time =
  (SELECT max(d.candle_open_time) FROM strategy_decisions d
    WHERE d.strategy_id = s.id AND d.kind = 'decision' AND d.id > s.decision_floor_id);
ALTER TABLE strategies DROP COLUMN decision_floor_id;
DROP TRIGGER IF EXISTS strategies_remove_decisions ON strategies;
DROP FUNCTION IF EXISTS strategy_decisions_follow_strategy();
DELETE FROM strategy_decisions d WHERE NOT EXISTS (SELECT 1 FROM strategies s WHERE s.id = d.strategy_id)
   OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = d.user_id);
ALTER TABLE strategy_decisions
  ADD CONSTRAINT strategy_decisions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  ADD CONSTRAINT strategy_decisions_strategy_id_fkey FOREIGN KEY (strategy_id) REFERENCES strategies (id) ON DELETE CASCADE;
`;

export const migration: Migration = {
  name: "0006_decision_log_writes",
  async up({ context }) {
    await context.sequelize.query(UP);
  },
  async down({ context }) {
    await context.sequelize.query(DOWN);
  },
};
