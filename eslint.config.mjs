import tseslint from "typescript-eslint";
import coreBoundary from "./eslint-rules/core-boundary.js";

const noInlinedSql = [
  {
    selector: "Property[key.name='replacements']",
    message: "Bind values as parameters (bind: [...] with $1, $2): replacements inline them into logged SQL.",
  },
];

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
    // Sequelize `replacements` inline values into the SQL text, which PostgreSQL then logs with any
    // failed statement (hashes, emails, secrets): values are always bound parameters
    files: ["services/**/*.ts", "mixins/**/*.ts", "src/**/*.ts"],
    rules: {
      "no-restricted-syntax": ["error", ...noInlinedSql],
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
        // flat config replaces a rule's options per file: the SQL rule above is repeated here
        ...noInlinedSql,
      ],
    },
  },
  {
    // services, mixins and adapters are typed: no any (tests and benchmarks may use it)
    files: ["services/**/*.ts", "mixins/**/*.ts", "src/adapters/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "error" },
  },
  { files: ["**/*.js", "**/*.mjs", "**/*.cjs"], rules: { "@typescript-eslint/no-var-requires": "off" } },
);
