// The example strategies of the repository (examples/strategies), bundled into the app so the
// backtest form can start from one.
const files = import.meta.glob<{ default: Record<string, unknown> }>("../../../examples/strategies/*.json", {
  eager: true,
});

export interface ExampleStrategy {
  file: string;
  name: string;
  definition: Record<string, unknown>;
}

export const EXAMPLES: ExampleStrategy[] = Object.entries(files)
  .map(([path, mod]) => ({
    file: path.slice(path.lastIndexOf("/") + 1),
    name: String(mod.default.name ?? path),
    definition: mod.default,
  }))
  .sort((a, b) => a.name.localeCompare(b.name));
