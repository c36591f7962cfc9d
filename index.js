// The package entry for `import … from 'digitbench'`: loads the TypeScript sources through tsx's
// scoped loader (no build step, so it never goes stale), as bin/digitbench.js does for the CLI.
import { tsImport } from 'tsx/esm/api';

const lib = await tsImport('./src/index.ts', import.meta.url);

export const {
  loadModel,
  readBundleFile,
  DEFAULT_MAX_BUNDLE_BYTES,
  loadBundleBytes,
  UnknownPluginError,
  decodeBundle,
  BUNDLE_FORMAT_VERSION,
  decodeImage,
  readInputs,
  normalizeDigit,
  NoInkError,
  pluginResolver,
  resolvePlugin,
  defineClassifier,
  defineModel,
} = lib;
