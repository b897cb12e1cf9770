import { error, redirect } from "@sveltejs/kit";
import { ApiError } from "$lib/api";
import { loginUrl, session } from "$lib/session.svelte";
import type { LayoutLoad } from "./$types";

// Every page in this group needs a session: after a page load it is restored from the refresh
// cookie (one refresh), afterwards it is already in memory.
export const load: LayoutLoad = async ({ url }) => {
  let user;
  try {
    user = await session().restore();
  } catch (e) {
    const status = e instanceof ApiError ? e.status : 503;
    error(status, { message: e instanceof ApiError ? e.message : "The server could not be reached." });
  }
  if (!user) redirect(303, loginUrl(url));
  return { user };
};
