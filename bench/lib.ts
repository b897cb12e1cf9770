// Shared output for AURA benchmarks: one JSON line per metric with the ratio against a baseline
// measured in the same run, plus the machine it ran on.
import os from "node:os";

export type BenchEnv = Record<string, unknown>;

export function benchEnv(extra: Record<string, unknown> = {}): BenchEnv {
  return { node: process.version, cpu: os.cpus()[0]?.model ?? "unknown", cores: os.cpus().length, ...extra };
}

const round = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(6)) : x);

export function emit(
  env: BenchEnv,
  metric: string,
  ours: number,
  baseline: number,
  unit: string,
  extra: Record<string, unknown> = {},
): void {
  process.stdout.write(
    JSON.stringify({
      metric,
      ours: round(ours),
      baseline: round(baseline),
      ratio: +(ours / baseline).toFixed(3),
      unit,
      env,
      ...extra,
    }) + "\n",
  );
}
