import { defineConfig } from 'vitest/config';

/**
 * Four tiers, each a vitest project: `unit` (pure functions and fixtures, no servers), `infra` (CDK synth and
 * template assertions), `e2e` (the local runtime: simulators, s3rver, the AWS fake, the synthesized state machines),
 * `contract` (our real clients against responses recorded by independent public integrations, on a loopback server).
 * `npm test` runs all of them; `npm run test:<tier>` runs one.
 */
const shared = {
  setupFiles: ['test/setup.ts'],
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    // Keep CI inside its budget on two cores; the simulators bind port 0, so files can run in parallel.
    maxWorkers: 2,
    projects: [
      { test: { ...shared, name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { test: { ...shared, name: 'infra', include: ['test/infra/**/*.test.ts'] } },
      { test: { ...shared, name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
      { test: { ...shared, name: 'contract', include: ['test/contract/**/*.test.ts'] } },
    ],
  },
});
