import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Keep CI inside its budget on two cores; the simulators bind port 0, so files can run in parallel.
    maxWorkers: 2,
  },
});
