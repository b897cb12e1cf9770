// Integer settings of the identity services from the environment, refused loudly when malformed
// (a NaN lockout threshold or token lifetime would silently disable a protection).
export function intFromEnv(
  name: string,
  def: number,
  opts: { min?: number; max?: number } = {},
  env: NodeJS.ProcessEnv = process.env,
): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return def;
  const n = Number(raw);
  const min = opts.min ?? 0;
  if (!Number.isInteger(n) || n < min || (opts.max !== undefined && n > opts.max)) {
    throw new Error(
      `${name} must be an integer${opts.max !== undefined ? ` between ${min} and ${opts.max}` : ` ≥ ${min}`}, got "${raw}"`,
    );
  }
  return n;
}
