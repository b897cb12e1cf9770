// Backtests become durable jobs: a sweep is a parent row with one backtest run per grid point,
// runs carry their place in the fair queue (priority), an attempt counter that fences a worker
// whose claim was taken over, and a heartbeat by which a dead worker's runs are found. The job
// queue itself (pg-boss) keeps its tables in its own schema, created when the backtest service
// starts; reverting this migration drops that schema too.
import type { Migration } from "../migrator";

export const JOB_SCHEMA = "aura_jobs";

const UP = `
CREATE TABLE backtest_sweeps (
  id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  strategy_id BIGINT REFERENCES strategies (id) ON DELETE SET NULL,
  params      JSONB NOT NULL,
  definition  JSONB NOT NULL,
  grid        JSONB NOT NULL,
  rank_by     TEXT NOT NULL,
  descending  BOOLEAN NOT NULL,
  runs        INTEGER NOT NULL CHECK (runs >= 0),
  skipped     JSONB NOT NULL DEFAULT '[]',
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX backtest_sweeps_user_id_created_idx ON backtest_sweeps (user_id, created_at DESC, id);

ALTER TABLE backtest_results
  ADD COLUMN sweep_id     UUID REFERENCES backtest_sweeps (id) ON DELETE CASCADE,
  ADD COLUMN sweep_params JSONB,
  ADD COLUMN priority     INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN attempts     INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN worker_node  TEXT,
  ADD COLUMN heartbeat_at TIMESTAMPTZ;

CREATE INDEX backtest_results_queue_idx ON backtest_results (priority DESC, created_at, id) WHERE status = 'queued';
CREATE INDEX backtest_results_user_active_idx ON backtest_results (user_id) WHERE status IN ('queued', 'running');
CREATE INDEX backtest_results_running_idx ON backtest_results (heartbeat_at) WHERE status = 'running';
CREATE INDEX backtest_results_sweep_id_idx ON backtest_results (sweep_id) WHERE sweep_id IS NOT NULL;
`;

const DOWN = `
DROP SCHEMA IF EXISTS ${JOB_SCHEMA} CASCADE;
DROP INDEX IF EXISTS backtest_results_sweep_id_idx, backtest_results_running_idx,
  backtest_results_user_active_idx, backtest_results_queue_idx;
ALTER TABLE backtest_results
  DROP COLUMN IF EXISTS heartbeat_at, DROP COLUMN IF EXISTS worker_node, DROP COLUMN IF EXISTS attempts,
  DROP COLUMN IF EXISTS priority, DROP COLUMN IF EXISTS sweep_params, DROP COLUMN IF EXISTS sweep_id;
DROP TABLE IF EXISTS backtest_sweeps;
`;

export const migration: Migration = {
  name: "0002_backtest_queue",
  async up({ context }) {
    await context.sequelize.query(UP);
  },
  async down({ context }) {
    await context.sequelize.query(DOWN);
  },
};
