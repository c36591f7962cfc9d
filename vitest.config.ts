import { defineConfig } from 'vitest/config';

/**
 * Tests that start processes (the CLI, run and bundle-measuring children, servers, Chromium, Redis
 * workers) or run whole experiments: the "process" project. Every other test file is "fast" (in-process,
 * real data subsets). `npm test` runs both and "wasm" (below), then test/e2e; `npm run test:fast` runs the
 * fast ones alone.
 */
const PROCESS = [
  'browser',
  'bundle',
  'bundle-plugins',
  'caps',
  'cli',
  'compact-bundles',
  'csv',
  'decode-browser',
  'evaluate',
  'folder-safety',
  'harness',
  'image-folder',
  'plugin-author',
  'predict',
  'predict-trust',
  'queue',
  'queue-url',
  'queue-netns',
  'queue-flaky',
  'queue-flow',
  'refit',
  'robustness',
  'selection',
  'serve-safety',
  'shapes',
  'trust',
  'user-data',
  'wrong-results',
].map((name) => `test/${name}.test.ts`);

/**
 * The tests of the work that runs on either engine (issue 25), run a second time with the native engine
 * forced off: the "wasm" project, so the suite is known to pass where onnxruntime-node is missing. (The
 * fast project runs them on the default engine: ort where it loads, and CI requires it to load.)
 */
const ENGINE = ['cnn', 'definitions', 'features', 'knn', 'knn-metrics', 'naive-bayes', 'ort', 'runtime-knn', 'runtime-models', 'runtime-ort', 'svm'].map((name) => `test/${name}.test.ts`);

export default defineConfig({
  // The workspace package @digitbench/runtime resolves to its TypeScript sources (see bin/register.js).
  resolve: { conditions: ['digitbench-source'] },
  ssr: { resolve: { conditions: ['digitbench-source'] } },
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // The tests compare against wasm-backend figures and kernels (test/wasm-kernel.test.ts tests ours for
    // that backend), so they pin it: where @tensorflow/tfjs-node installs, the suite still runs on wasm.
    // Run processes and bundle measurements inherit it.
    env: { DIGITBENCH_BACKEND: 'wasm' },
    projects: [
      { extends: true, test: { name: 'fast', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**', ...PROCESS] } },
      { extends: true, test: { name: 'process', include: PROCESS } },
      { extends: true, test: { name: 'wasm', include: ENGINE, env: { DIGITBENCH_BACKEND: 'wasm', DIGITBENCH_ENGINE: 'wasm' } } },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'] } },
    ],
  },
});
