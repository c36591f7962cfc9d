/** What both entries (Node: index.ts, browser: browser.ts) export the same way. */
export { loadBundleBytes, imagesMatrix, type Classified, type ClassScore, type DigitModel, type ImageInput, type Prediction, type RgbaImage } from './bundle/model.ts';
export { decodeBundle, BUNDLE_FORMAT_VERSION, type BundleHeader } from './bundle/format.ts';
export { BUILTIN_MODELS, builtinResolver, UnknownPluginError, type PluginResolver } from './models/builtins.ts';
export { defineModel, type ClassifierContext, type Model, type ModelDefinition, type ModelPlugin, type ModelRuntime, type BrowserAsset } from './models/plugin.ts';
export { normalizeDigit, resizeGrey, NoInkError, DEFAULT_MAX_PIXELS, type DecodedImage } from './input/normalize.ts';
export { createMatrix, type Matrix } from './engine/matrix.ts';
export type { Precision, SerializeOptions } from './models/compact.ts';
export type { Calibration, LogitKind, Trust } from './models/calibration.ts';
export { DEFAULT_MAX_IMAGE_BYTES, type DecodeOptions, type InputImage } from './input/image-header.ts';

/** Options of loadModel (Node and browser). */
export interface LoadModelOptions {
  /**
   * Plugins for bundles whose plugin is not built in (or to replace a built-in, e.g. the CNN with its
   * wasm files' URLs in a page): matched by the bundle's plugin name, before the built-ins. A bundle
   * never names code to load; pass your plugin object here.
   */
  plugins?: readonly import('./models/plugin.ts').ModelPlugin[];
  /** Refuse bundles larger than this many bytes (default: 1 GiB; in Node also $DIGITBENCH_MAX_BUNDLE_BYTES). */
  maxBytes?: number;
  /** Refuse decoded pictures larger than this many pixels in predict (default 25 MP). */
  maxPixels?: number;
  /**
   * Node only: 'ort' runs the heavy products of k-NN ('l2', 'cosine'), rbf SVM and Gaussian NB labels on
   * onnxruntime-node (an optional peer dependency) with exact float64 rechecks, so labels and scores equal
   * 'js' (plain JS; trees, 'l3' k-NN and other SVM kernels in JS on either), and the CNN's forward pass as
   * one graph (the same labels as tfjs, probabilities within float32 rounding). Default:
   * 'ort' where onnxruntime-node loads, else 'js'; 'ort' where it cannot load is an error naming why. A web
   * page always runs 'js'. `session.run` blocks the calling thread while it runs (see the README).
   */
  engine?: 'ort' | 'js';
  /** Node, engine 'ort': intra-op threads of each onnxruntime session (default 1). */
  threads?: number;
}
export { corruptImages, CORRUPTION_NAMES, type CorruptionName } from './corruptions/index.ts';
