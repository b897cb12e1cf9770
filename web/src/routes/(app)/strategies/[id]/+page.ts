import { error } from "@sveltejs/kit";
import { fromJson } from "$lib/builder/model";
import type { StrategyDetail } from "$lib/builder/strategies";
import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

export const load: PageLoad = ({ url, params }) =>
  guard(url, async ({ api }) => {
    const strategy = await api.get<StrategyDetail>(`/strategies/${encodeURIComponent(params.id)}`);
    const r = fromJson(strategy.definition);
    // a stored definition passed the same validator, so the blocks can always show it
    if (!r.ok) error(500, { message: `This strategy cannot be shown as blocks: ${r.reason}` });
    return { strategy, model: r.model };
  });
