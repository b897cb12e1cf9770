import type { Run } from "$lib/backtests";
import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

// ?from=<id> starts from an earlier run's strategy and period
export const load: PageLoad = ({ url }) =>
  guard(url, async ({ api }) => {
    const { symbols } = await api.get<{ symbols: { symbol: string; status: string }[] }>("/market/symbols");
    const base = url.searchParams.get("from");
    const run = base
      ? await api.get<Run & { definition?: Record<string, unknown> }>(
          `/backtests/${encodeURIComponent(base)}`,
        )
      : null;
    return {
      symbols: symbols.filter((s) => s.status === "TRADING").map((s) => s.symbol),
      initial: run ? { from: run.params.from, to: run.params.to } : undefined,
    };
  });
