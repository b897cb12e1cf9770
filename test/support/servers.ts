// Suites that need NATS or Redis find them here. On a developer machine without them the suite
// is skipped with a loud message; under CI=true a missing server fails the run instead.
import net from "node:net";

export const NATS_URL = process.env.AURA_TEST_NATS_URL ?? "nats://127.0.0.1:4222";
export const REDIS_URL = process.env.AURA_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

function reachable(url: string, timeoutMs = 1000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port: Number(u.port) }, () => {
      s.destroy();
      resolve(true);
    });
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      resolve(false);
    });
    s.on("error", () => resolve(false));
  });
}

/**
 * Resolves true when every named server answers. Otherwise: under CI throws (the suite fails);
 * elsewhere prints a loud warning and resolves false so the caller can skip its tests.
 */
export async function requireServers(names: ("nats" | "redis")[], suite: string): Promise<boolean> {
  const urls = { nats: NATS_URL, redis: REDIS_URL };
  const missing: string[] = [];
  for (const n of names) if (!(await reachable(urls[n]))) missing.push(`${n} (${urls[n]})`);
  if (missing.length === 0) return true;
  const msg = `${suite} needs ${missing.join(" and ")}, which did not answer.`;
  if (process.env.CI === "true" || process.env.CI === "1") throw new Error(`${msg} CI must run this suite.`);
  process.stderr.write(
    `\n*** SKIPPING ${suite}: ${msg} Start them (see README "Running the tests") to run it. ***\n\n`,
  );
  return false;
}
