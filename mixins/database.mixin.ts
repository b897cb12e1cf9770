// The process database and the audit log, for services that write security-relevant outcomes:
// `sql()` is this process's Sequelize, `audit()` writes one audit_log row and never fails the
// request it belongs to.
import type { Service, ServiceSchema } from "moleculer";
import type { Sequelize } from "sequelize";
import { audit, type AuditContext, type AuditEntry } from "../src/adapters/auth/audit";
import { getDatabase } from "../src/adapters/storage/database";

export interface DatabaseMethods {
  sql(): Promise<Sequelize>;
  /** Writes an audit_log row; without a context (timers), the row has no caller, ip or request id. */
  audit(ctx: AuditContext | undefined, entry: AuditEntry): Promise<void>;
}

type Self = Service & DatabaseMethods;

// the default schema type, so it mixes into any service; its methods declare their own `this`
export const DatabaseMixin: Partial<ServiceSchema> = {
  methods: {
    async sql(): Promise<Sequelize> {
      return (await getDatabase()).sequelize;
    },

    async audit(this: Self, ctx: AuditContext | undefined, entry: AuditEntry): Promise<void> {
      try {
        await audit(await this.sql(), ctx, entry);
      } catch (e) {
        // an audit failure must be visible to operators, but not turn a login into a 500
        this.logger.error(
          { action: entry.action, err: (e as Error | undefined)?.message },
          "audit_log write failed",
        );
      }
    },
  },
};

export default DatabaseMixin;
