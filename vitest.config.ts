import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: CLI tests spawn processes; keep the pool small so timings stay sane.
    maxWorkers: 2,
  },
});
