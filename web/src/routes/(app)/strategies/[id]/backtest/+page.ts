import type { StrategyDetail } from "$lib/builder/strategies";
import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

export const load: PageLoad = ({ url, params }) =>
  guard(url, async ({ api }) => {
    const [strategy, { symbols }] = await Promise.all([
      api.get<StrategyDetail>(`/strategies/${encodeURIComponent(params.id)}`),
      api.get<{ symbols: { symbol: string; status: string }[] }>("/market/symbols"),
    ]);
    return { strategy, symbols: symbols.filter((s) => s.status === "TRADING").map((s) => s.symbol) };
  });
