// PostgreSQL errors the identity adapters turn into domain errors (a taken email, a taken label).

/** Whether `e` is a unique-constraint violation, as Sequelize or the pg driver reports it. */
export function isUniqueViolation(e: unknown): boolean {
  if (typeof e !== "object" || e === null) return false;
  const err = e as { name?: unknown; parent?: { code?: unknown } };
  return err.name === "SequelizeUniqueConstraintError" || err.parent?.code === "23505";
}
