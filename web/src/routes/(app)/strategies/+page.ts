import type { KeyOption, StrategyView } from "$lib/builder/strategies";
import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

/** An account keeps at most 200 strategies; the API pages them by 100. */
const PAGES = 2;

export const load: PageLoad = ({ url, depends }) =>
  guard(url, async ({ api }) => {
    depends("app:strategies");
    const strategies: StrategyView[] = [];
    let afterId: number | null | undefined;
    for (let i = 0; i < PAGES && afterId !== null; i++) {
      const page = await api.get<{ items: StrategyView[]; nextAfterId: number | null }>("/strategies", {
        limit: 100,
        afterId,
      });
      strategies.push(...page.items);
      afterId = page.nextAfterId;
    }
    const { keys } = await api.get<{ keys: KeyOption[] }>("/keys");
    const saved = Number(url.searchParams.get("saved")) || null;
    return { strategies, keys, saved };
  });
