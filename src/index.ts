/**
 * digitbench as a library, for apps that deploy a model an experiment picked:
 *
 *   import { loadModel, readInputs } from 'digitbench';
 *   const model = await loadModel('reports/quick/models/svm-1a2b3c4d.bundle');
 *   const [p] = await model.predict(pixels);        // h×w raw MNIST-format values (model.imageShape), or a decoded image
 *   console.log(p.label, p.top);                     // 7, [{ label: 7, name: '7', score: 0.98 }, …]
 *
 * A bundle carries its own feature pipeline, so raw pixels go in. Decoded pictures (any size, dark ink
 * on light paper or the reverse) are normalized the way MNIST was made; `readInputs` decodes files.
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
