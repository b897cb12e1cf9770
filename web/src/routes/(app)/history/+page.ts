import {
  filtersFromQuery,
  pageQuery,
  type HistoryPage,
  type Order,
  type OrderTotals,
  type Trade,
  type TradeTotals,
} from "$lib/history";
import { guard } from "$lib/session.svelte";
import type { SymbolInfo } from "../+page";
import type { PageLoad } from "./$types";

export interface StrategyItem {
  id: number;
  name: string;
  symbol: string;
}

export const load: PageLoad = ({ url }) =>
  guard(url, async (s) => {
    const { api } = s;
    const filters = filtersFromQuery(url.searchParams);
    const query = pageQuery(filters, s.zone);
    // totals come with a walk's first page only; a later page asks for them separately
    const first = filters.trail.length ? { ...query, cursor: undefined, limit: 1 } : undefined;
    const path = filters.tab === "orders" ? "/orders" : "/trades";
    const [page, firstPage, strategies, symbols] = await Promise.all([
      api.get<HistoryPage<Trade | Order, TradeTotals | OrderTotals>>(path, query),
      first ? api.get<HistoryPage<unknown, TradeTotals | OrderTotals>>(path, first) : undefined,
      api.get<{ items: StrategyItem[] }>("/strategies", { limit: 100 }),
      api.get<{ symbols: SymbolInfo[] }>("/market/symbols"),
    ]);
    return {
      filters,
      zone: s.zone,
      page,
      totals: page.totals ?? firstPage?.totals,
      strategies: strategies.items,
      symbols: symbols.symbols,
    };
  });
