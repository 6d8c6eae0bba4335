import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Restores the Bicep CLI from NuGet once per run when it is missing (tests/setup/bicep.ts).
    globalSetup: ['tests/setup/bicep.ts'],
  },
});
