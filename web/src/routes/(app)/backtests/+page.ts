import type { Run } from "$lib/backtests";
import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

export const load: PageLoad = ({ url }) =>
  guard(url, async ({ api }) => {
    const before = url.searchParams.get("before") ?? undefined;
    const page = await api.get<{ items: Run[]; nextBefore: string | null }>("/backtests", {
      limit: 50,
      before,
    });
    return { runs: page.items, nextBefore: page.nextBefore, before };
  });
