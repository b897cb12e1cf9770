import { error } from "@sveltejs/kit";
import type { Run } from "$lib/backtests";
import type { Metrics } from "$lib/metrics";
import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

export interface Compared {
  id: string;
  name?: string;
  symbol: string;
  interval: string;
  from: string;
  to: string;
  feeRate: number;
  slippageBps: number;
  sweepParams?: Record<string, number | string>;
  metrics: Metrics;
}

export const load: PageLoad = ({ url }) => {
  const ids = (url.searchParams.get("ids") ?? "").split(",").filter(Boolean);
  if (ids.length < 2 || ids.length > 10)
    error(400, { message: "Pick between 2 and 10 completed backtests to compare." });
  return guard(url, async ({ api }) => {
    const compared = await api.post<{ metrics: string[]; backtests: Compared[] }>("/backtests/compare", {
      ids,
    });
    const runs = await Promise.all(ids.map((id) => api.get<Run>(`/backtests/${encodeURIComponent(id)}`)));
    return { compared, equity: runs.map((r) => r.result?.equity ?? []) };
  });
};
