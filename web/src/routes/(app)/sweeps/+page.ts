import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

export interface SweepItem {
  id: string;
  name?: string;
  status: "running" | "completed";
  runs: number;
  done: number;
  rankBy: string;
  grid: Record<string, unknown[]>;
  createdAt: string;
}

export const load: PageLoad = ({ url }) =>
  guard(url, async ({ api }) => {
    const page = await api.get<{ items: SweepItem[]; nextBefore: string | null }>("/backtests/sweeps", {
      limit: 50,
    });
    return { sweeps: page.items };
  });
