// The built-in simulator's venue state (paper accounts, their orders and trades, the replay
// clock), so paper trading survives a restart of the process that runs exchange-sim. One row:
// there is one simulator per deployment. The snapshot holds the paper accounts' API secrets, so it
// is stored sealed with the master key (AES-256-GCM, like exchange keys), never as readable JSON.
import type { Migration } from "../migrator";

const UP = `
CREATE TABLE sim_state (
  id        SMALLINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
  snapshot  TEXT NOT NULL,
  saved_at  TIMESTAMPTZ NOT NULL
);
`;

const DOWN = `
DROP TABLE IF EXISTS sim_state;
`;

export const migration: Migration = {
  name: "0005_sim_state",
  async up({ context }) {
    await context.sequelize.query(UP);
  },
  async down({ context }) {
    await context.sequelize.query(DOWN);
  },
};
