import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    // '**/node_modules/**': bench/dbos has its own node_modules (the DBOS peer), whose packages ship *.test.ts files.
    exclude: ['**/node_modules/**', 'dist/**', 'bench/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two files at a time (vitest's default on 2 cores is one): most long files wait on timers, restarts and
    // simulated learners rather than compute, and every test must hold on a loaded machine anyway.
    maxWorkers: 2,
    // Restores the Bicep CLI from NuGet once per run when it is missing (tests/setup/bicep.ts).
    globalSetup: ['tests/setup/bicep.ts'],
  },
});
