// The workbench's package entry (`import … from 'digitbench'`, for plugin files and scripts run beside
// the workbench): its TypeScript sources through tsx, with @digitbench/runtime resolved to its sources
// (bin/register.js). Apps that ship a model install @digitbench/runtime instead: compiled, no tsx.
import './bin/register.js';

const lib = await import('./src/index.ts');

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
  checkTrainingData,
  labelIndex,
  ownBytes,
} = lib;
