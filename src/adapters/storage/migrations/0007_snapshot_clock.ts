// Equity snapshots of paper accounts are stamped with their venue's clock: the simulator replays a
// past market, and paper fills, trades and positions carry its times, so an equity curve on this
// machine's clock would not line up with them. Whether a snapshot is due, or one was just taken,
// is still a question of this machine's clock: taken_at keeps that, apart from `time`.
import { sqlMigration } from "../migrator";

const UP = `
ALTER TABLE equity_snapshots ADD COLUMN taken_at TIMESTAMPTZ;
UPDATE equity_snapshots SET taken_at = time;
ALTER TABLE equity_snapshots ALTER COLUMN taken_at SET DEFAULT now(), ALTER COLUMN taken_at SET NOT NULL;
CREATE INDEX equity_snapshots_user_mode_taken_idx ON equity_snapshots (user_id, mode, taken_at)
  WHERE strategy_id IS NULL;
`;

const DOWN = `
DROP INDEX IF EXISTS equity_snapshots_user_mode_taken_idx;
UPDATE equity_snapshots SET time = taken_at;
ALTER TABLE equity_snapshots DROP COLUMN taken_at;
`;

export const migration = sqlMigration("0007_snapshot_clock", UP, DOWN);
