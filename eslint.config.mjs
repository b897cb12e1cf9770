import tseslint from "typescript-eslint";
import coreBoundary from "./eslint-rules/core-boundary.js";

export default tseslint.config(
  {
    ignores: [
      "node_modules/**",
      "dist/**",
      ".aura/**",
      "web/**",
      "coverage/**",
      "data/**",
      "test/fixtures/lint/**",
    ],
  },
  ...tseslint.configs.recommended,
  {
    plugins: { aura: { rules: { "core-boundary": coreBoundary } } },
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
      "@typescript-eslint/no-require-imports": "off",
    },
  },
  {
    files: ["src/core/**/*.ts"],
    rules: {
      "aura/core-boundary": "error",
      "no-restricted-properties": [
        "error",
        {
          object: "Date",
          property: "now",
          message: "src/core takes time from an injected clock or the candle.",
        },
        { object: "Math", property: "random", message: "src/core must be deterministic: take a seeded RNG." },
      ],
      "no-restricted-syntax": [
        "error",
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: "src/core takes time from an injected clock.",
        },
      ],
    },
  },
  { files: ["**/*.js", "**/*.mjs", "**/*.cjs"], rules: { "@typescript-eslint/no-var-requires": "off" } },
);
