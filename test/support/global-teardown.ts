export default async function globalTeardown(): Promise<void> {
  const pg = (globalThis as any).__AURA_TEST_PG__;
  if (pg) await pg.stop();
}
