// Projects split the suite by what it needs: "unit" is pure and fast; "integration" needs
// PostgreSQL (embedded when DATABASE_URL is unset); "cluster" needs NATS and Redis; "e2e" drives
// the dashboard of a real `aura start` in Chromium (the system's chromium; no browser download).
const transform = { "^.+\\.(t|j)sx?$": ["@swc/jest", { jsc: { target: "es2022" } }] };
const common = { transform, testEnvironment: "node", moduleFileExtensions: ["ts", "js", "json"] };
module.exports = {
  projects: [
    {
      ...common,
      displayName: "unit",
      testMatch: [
        "<rootDir>/test/unit/**/*.test.ts",
        "<rootDir>/test/scenarios/**/*.test.ts",
        "<rootDir>/web/src/**/*.test.ts",
      ],
    },
    {
      ...common,
      displayName: "integration",
      testMatch: ["<rootDir>/test/integration/**/*.test.ts", "<rootDir>/test/contract/**/*.test.ts"],
      globalSetup: "<rootDir>/test/support/global-setup.ts",
      globalTeardown: "<rootDir>/test/support/global-teardown.ts",
    },
    {
      ...common,
      displayName: "cluster",
      testMatch: ["<rootDir>/test/cluster/**/*.test.ts"],
      globalSetup: "<rootDir>/test/support/global-setup.ts",
      globalTeardown: "<rootDir>/test/support/global-teardown.ts",
    },
    {
      ...common,
      displayName: "e2e",
      testMatch: ["<rootDir>/test/e2e/**/*.test.ts"],
    },
  ],
};
