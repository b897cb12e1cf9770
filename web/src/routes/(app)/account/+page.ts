import { guard } from "$lib/session.svelte";
import type { PageLoad } from "./$types";

export interface KeyView {
  id: number;
  label: string;
  exchange: "binance" | "binance-testnet" | "sim";
  apiKeyMasked: string;
  permissions: Record<string, boolean> | null;
  status: string;
  statusReason: string | null;
  statusMessage: string | null;
  warnings: { code: string; message: string }[];
  validatedAt: string | null;
  createdAt: string;
}

export const load: PageLoad = ({ url }) =>
  guard(url, async ({ api }) => {
    const { keys } = await api.get<{ keys: KeyView[] }>("/keys");
    return { keys };
  });
