/**
 * The workbench as a library, for plugin files and scripts run beside it (apps that ship a model use
 * @digitbench/runtime instead: compiled, no tsx):
 *
 *   import { defineClassifier, defineModel, checkTrainingData } from 'digitbench';   // a plugin file
 *   import { loadModel } from 'digitbench';
 *   const model = await loadModel('runs/quick/models/svm-1a2b3c4d.bundle');   // the runtime's loadModel with the workbench's engines
 *   const [p] = await model.predict(pixels);        // h×w raw MNIST-format values (model.imageShape), or a decoded image
 *
 * A bundle is data: loading it never imports or runs anything it names. Its plugin is a built-in or
 * one you pass: `loadModel(file, { plugins: [myPlugin] })`.
 */
export { loadModel, readBundleFile, DEFAULT_MAX_BUNDLE_BYTES, type LoadModelOptions } from './bundle/file.ts';
export { loadBundleBytes, UnknownPluginError, type ClassScore, type DigitModel, type ImageInput, type PluginResolver, type Prediction, type RgbaImage } from '@digitbench/runtime/internal';
export { decodeBundle, BUNDLE_FORMAT_VERSION, type BundleHeader } from '@digitbench/runtime/internal';
export { decodeImage, readInputs, type InputImage, type DecodeOptions, type ReadInputsOptions } from './input/decode.ts';
export { normalizeDigit, NoInkError, type DecodedImage } from '@digitbench/runtime/internal';
export { pluginResolver, resolvePlugin } from './classifiers/registry.ts';
export { checkTrainingData, defineClassifier, defineModel, labelIndex, ownBytes, type ClassifierPlugin, type Estimator, type Model } from './classifiers/plugin.ts';
