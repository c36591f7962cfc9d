import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // The tests compare against wasm-backend figures and kernels (test/wasm-kernel.test.ts tests ours for
    // that backend), so they pin it: where @tensorflow/tfjs-node installs, the suite still runs on wasm.
    // Run processes and bundle measurements inherit it.
    env: { DIGITBENCH_BACKEND: 'wasm' },
  },
});
