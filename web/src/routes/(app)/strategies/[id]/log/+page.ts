import type { Decision, StrategyDetail } from "$lib/builder/strategies";
import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

const LOG_PAGE = 50;

export const load: PageLoad = ({ url, params, depends }) =>
  guard(url, async ({ api }) => {
    depends("app:strategy-log");
    const id = encodeURIComponent(params.id);
    const [strategy, log] = await Promise.all([
      api.get<StrategyDetail>(`/strategies/${id}`),
      api.get<{ items: Decision[]; nextBefore: number | null }>(`/strategies/${id}/logs`, {
        limit: LOG_PAGE,
      }),
    ]);
    return { strategy, decisions: log.items, nextBefore: log.nextBefore };
  });
