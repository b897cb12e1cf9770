import type { Metrics } from "$lib/metrics";
import type { RunParams } from "$lib/backtests";
import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

export interface Sweep {
  id: string;
  status: "queued" | "running" | "completed";
  progress: number;
  name?: string;
  params: RunParams;
  grid: Record<string, (number | string)[]>;
  rankBy: string;
  descending: boolean;
  runs: number;
  completed: number;
  failed: { id: string; params: Record<string, number | string>; error: string | null }[];
  skipped: { params: Record<string, number | string>; errors: { message?: string }[] }[];
  createdAt: string;
  results: { rank: number; id: string; params: Record<string, number | string>; metrics: Metrics }[];
}

export const load: PageLoad = ({ url, params, depends }) =>
  guard(url, async ({ api }) => {
    depends("app:sweep");
    return { sweep: await api.get<Sweep>(`/backtests/sweeps/${encodeURIComponent(params.id)}`) };
  });
