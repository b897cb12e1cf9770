import { EXAMPLES } from "$lib/examples";
import { emptyModel, fromJson } from "$lib/builder/model";
import type { PageLoad } from "./$types";

// ?example=<file> starts from one of the example strategies instead of a blank one
export const load: PageLoad = ({ url }) => {
  const file = url.searchParams.get("example");
  const ex = file ? EXAMPLES.find((e) => e.file === file) : undefined;
  const r = ex ? fromJson(ex.definition) : undefined;
  return {
    model: r?.ok ? r.model : emptyModel(),
    examples: EXAMPLES.map((e) => ({ file: e.file, name: e.name })),
    example: ex?.file ?? "",
  };
};
