import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

export const load: PageLoad = ({ url }) =>
  guard(url, async ({ api }) => {
    const { symbols } = await api.get<{ symbols: { symbol: string; status: string }[] }>("/market/symbols");
    return { symbols: symbols.filter((s) => s.status === "TRADING").map((s) => s.symbol) };
  });
