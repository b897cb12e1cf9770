// The decision log takes a row per active instance and candle, written in batches by every runner
// the moment a candle closes, so what each row costs to insert is paid a thousand times at once.
// Its user_id foreign key cost a lookup and a row lock on the owner's users row per decision (the
// same row for every instance of one user), and protected nothing the strategy_id key does not:
// a decision belongs to a strategy, strategies are removed with their user, and decisions with
// their strategy. user_id stays as the owner scope the log is read by.
import type { Migration } from "../migrator";

const UP = `
ALTER TABLE strategy_decisions DROP CONSTRAINT IF EXISTS strategy_decisions_user_id_fkey;
`;

const DOWN = `
DELETE FROM strategy_decisions d WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = d.user_id);
ALTER TABLE strategy_decisions
  ADD CONSTRAINT strategy_decisions_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
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
