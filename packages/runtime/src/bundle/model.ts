/**
 * A bundle, loaded: raw 0..255 pixels in, labels and scores out, through the bundle's own fitted
 * feature pipeline and model. This is what `digitbench predict`, apps (`loadModel`) and the deployment
 * measurements use; there is no second implementation of any step or plugin.
 *
 * A bundle is data. Its header's `plugin.name` is handed to the caller's resolver, which maps the name
 * to a plugin the caller already has (a built-in, or one the user passed explicitly); nothing else in
 * the header is used to find code, and nothing the bundle names is imported or run. The model the
 * plugin rebuilds must predict the header's classes, and every prediction is checked against them.
 */
import { createMatrix, type Matrix } from '../engine/matrix.ts';
import { restorePipeline, transformRows, type Pipeline } from '../features/pipeline.ts';
import { DEFAULT_MAX_PIXELS, normalizeDigit, type DecodedImage } from '../input/normalize.ts';
import { UnknownPluginError, type PluginResolver } from '../models/builtins.ts';
import { parseParams, type Model, type ModelPlugin, type ModelRuntime, type NativeEngine } from '../models/plugin.ts';
import { decodeBundle, quoteLine, type BundleHeader } from './format.ts';
import { calibrate, labelConfidence, logitKindOf, PROBABILITY_FLOOR, type Trust } from '../models/calibration.ts';

export { UnknownPluginError, type PluginResolver };

export interface ClassScore {
  label: number;
  /** The class name (e.g. "7", or Fashion-MNIST's "Trouser"). */
  name: string;
  score: number;
}

export interface Prediction {
  label: number;
  name: string;
  /**
   * The probability (0..1) that the label is right: calibrated on the run's validation rows when the
   * bundle has `trust`, else the raw scores read as probabilities. Undefined only for a model without scores.
   */
  confidence?: number;
  /** The confidence is below the bundle's threshold for its target accuracy (`trust.reject`): do not act on this label. */
  unsure: boolean;
  /** The highest raw scores, best first, when the model has scores (see `scoreKind`). */
  top?: ClassScore[];
}

/** Many images at once: labels, each label's confidence and whether it is unsure (1) or not (0). */
export interface Classified {
  labels: Int32Array;
  /** NaN for a model without scores. */
  confidence: Float64Array;
  unsure: Uint8Array;
}

/** RGBA pixels without a channel count, as a browser canvas's getImageData gives them. */
export interface RgbaImage {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

/**
 * One image: h×w raw pixels in the bundle's image shape (0..255, MNIST format, used as they are; 784 for
 * 28×28), or a decoded picture or canvas image of any size (normalized the MNIST way into that shape first).
 */
export type ImageInput = ArrayLike<number> | DecodedImage | RgbaImage;

export interface DigitModel {
  readonly header: BundleHeader;
  /** Labels the model predicts, ascending (score columns follow them). */
  readonly classes: Int32Array;
  /** Height × width of the images the model takes (its dataset's); pictures are normalized into it. */
  readonly imageShape: readonly [number, number];
  /** The feature steps, e.g. ["scale", "pca(50)"]. */
  readonly features: string[];
  /** What the scores are, e.g. "softmax probabilities"; undefined when the model has none. */
  readonly scoreKind: string | undefined;
  /** Raw images, one h×w row each (0..255) → labels. */
  predictLabels(images: Matrix): Promise<Int32Array>;
  /** Raw images → scores, rows × classes; undefined when the plugin has no scores. */
  scores: ((images: Matrix) => Promise<Matrix>) | undefined;
  /** The calibration and "unsure" threshold fitted on the run's validation rows (format 3), if any. */
  readonly trust: Trust | undefined;
  /**
   * Raw images → probabilities, rows × classes: the scores calibrated by `trust` (or read as probabilities
   * when the bundle has none); undefined when the plugin has no scores.
   */
  probabilities: ((images: Matrix) => Promise<Matrix>) | undefined;
  /** Raw images → labels, their confidence and the unsure flags, in one pass (for many images). */
  classify(images: Matrix | ImageInput | readonly ImageInput[]): Promise<Classified>;
  /** Images (raw pixel rows, a matrix of them, or decoded pictures) → label, name and top scores each. */
  predict(images: Matrix | ImageInput | readonly ImageInput[], options?: { top?: number }): Promise<Prediction[]>;
  /** The pipeline's and the model's engines. */
  engine(): string;
  /**
   * The engine loadModel chose: 'ort' (onnxruntime-node, Node only; loadModel's `engine` option) or 'js'
   * (plain JS and tfjs). A plugin without an ort path predicts in JS either way; engine() says what ran.
   */
  readonly engineKind: 'ort' | 'js';
  /** The model's engine and the threads it uses (or, for a fitted model, used to fit). */
  runtime(): ModelRuntime;
  dispose(): void;
}

/** One line from an error of a plugin or step (they may be multi-line or not even Errors). */
function reason(e: unknown): string {
  return quoteLine(String(e instanceof Error ? e.message : e).split('\n').map((l) => l.trim()).find((l) => l) ?? 'unknown error', 300);
}

/** A decoded picture: {width, height, data} with `channels`, or RGBA like a browser's ImageData. */
function asDecoded(v: unknown): DecodedImage | undefined {
  const d = v as Partial<DecodedImage> & { data?: ArrayLike<number> };
  if (typeof d?.width !== 'number' || typeof d.height !== 'number' || !d.data) return undefined;
  const channels = d.channels ?? (d.data.length === d.width * d.height * 4 ? 4 : undefined);
  if (channels === undefined) return undefined;
  return { width: d.width, height: d.height, channels, data: d.data as Uint8Array };
}

function isMatrix(v: unknown): v is Matrix {
  const m = v as Partial<Matrix>;
  return typeof m?.rows === 'number' && typeof m.cols === 'number' && m.data !== undefined;
}

/**
 * Images in any accepted form → one raw matrix of h×w rows: raw pixel arrays and matrices must already
 * have h×w values, decoded pictures are normalized into h×w; wrong sizes and 0..1 pixels are refused.
 */
export function imagesMatrix(input: Matrix | ImageInput | readonly ImageInput[], [h, w]: readonly [number, number], maxPixels = DEFAULT_MAX_PIXELS): Matrix {
  const n = h * w;
  const checkRange = (data: ArrayLike<number>, what: string) => {
    let max = 0;
    for (let i = 0; i < data.length; i++) if (data[i]! > max) max = data[i]!;
    if (max > 0 && max <= 1) throw new Error(`predict: ${what} has pixel values only in 0..1; give raw pixels 0..255 (MNIST format: light ink on black), e.g. multiply by 255.`);
  };
  if (isMatrix(input)) {
    if (!(input.data instanceof Float32Array)) throw new Error('predict: a matrix of images needs its data as a Float32Array (rows × pixels).');
    if (input.cols !== n) throw new Error(`predict: each row must be one ${h}×${w} image (${n} pixels) but has ${input.cols}.`);
    checkRange(input.data, 'the matrix');
    return input;
  }
  const one = ArrayBuffer.isView(input) || asDecoded(input) !== undefined || typeof (input as ArrayLike<unknown>)[0] === 'number';
  const list = one ? [input as ImageInput] : input;
  if (!Array.isArray(list)) throw new Error(`predict: give ${n} raw pixels, a decoded image {width, height, channels, data}, a list of them, or a ${h}×${w}-column matrix.`);
  const out = new Float32Array(list.length * n);
  list.forEach((img: ImageInput, i: number) => {
    const decoded = asDecoded(img);
    // The same pixel limit decodeImage applies to files: a picture an app decoded itself is capped too.
    if (decoded && decoded.width * decoded.height > maxPixels) {
      throw new Error(
        `predict: image ${i} is ${decoded.width}×${decoded.height} pixels (${Math.round((decoded.width * decoded.height) / 1e6)} MP), over the ${maxPixels / 1e6} MP limit for a digit; crop or scale it down first (or raise loadModel's maxPixels).`,
      );
    }
    const px = decoded ? normalizeDigit(decoded, `image ${i}`, [h, w]) : (img as ArrayLike<number>);
    if (typeof px?.length !== 'number' || px.length !== n) {
      throw new Error(`predict: image ${i} has ${px?.length ?? 'no'} pixels; give ${h}×${w} = ${n} raw pixels (0..255) or a decoded picture.`);
    }
    if (!decoded) checkRange(px, `image ${i}`);
    for (let j = 0; j < n; j++) out[i * n + j] = px[j]!;
  });
  return createMatrix(list.length, n, out);
}

/**
 * Decodes a bundle and rebuilds its pipeline and model; `resolve` gets the header's `plugin.name`.
 * `name` names the file in errors.
 */
export async function loadBundleBytes(bytes: Uint8Array, name: string, resolve: PluginResolver, options: { maxPixels?: number; native?: NativeEngine } = {}): Promise<DigitModel> {
  const { header, states, modelBytes } = await decodeBundle(bytes, name);
  const imageShape = header.dataset.imageShape;
  const pluginName = header.plugin.name;
  let plugin: ModelPlugin;
  try {
    plugin = await resolve(pluginName);
  } catch (e) {
    if (e instanceof UnknownPluginError) throw new Error(`${name}: ${reason(e)}`);
    throw new Error(`${name}: its plugin "${pluginName}" cannot be loaded here (${reason(e)})`);
  }
  if (plugin?.name !== pluginName) throw new Error(`${name}: its plugin is "${pluginName}" but the resolver gave "${quoteLine(String(plugin?.name))}"; give the plugin of that name.`);
  if (!plugin.load) throw new Error(`${name}: the plugin "${plugin.name}" has no load(); it cannot rebuild the model.`);
  let pipeline: Pipeline;
  let model: Model;
  try {
    pipeline = restorePipeline(header.pipeline.map((p) => p.spec), imageShape, states);
    const params = parseParams(plugin, header.plugin.params);
    model = await plugin.load(modelBytes, params, { seed: header.run.seed, log: { info() {}, warn() {} }, ...(pipeline.outputImage ? { imageShape: pipeline.outputImage } : {}), ...(options.native ? { native: options.native } : {}) });
  } catch (e) {
    throw new Error(`${name}: the model could not be rebuilt (${reason(e)})`);
  }
  const classes = model.classes;
  if (!(classes instanceof Int32Array) || classes.length !== header.classes.length || header.classes.some((c, i) => classes[i] !== c)) {
    model.dispose?.();
    throw new Error(`${name}: the rebuilt model's classes differ from the ones its header lists; the bundle is not usable (re-run the experiment).`);
  }
  const known = new Set(classes);
  /** The model's labels of feature rows (or `given` ones from predictWithScores), checked. */
  const predictChecked = async (f: Matrix, given?: Int32Array): Promise<Int32Array> => {
    let labels: Int32Array;
    try {
      labels = given ?? (await model.predict(f));
    } catch (e) {
      throw new Error(`${name}: the model could not predict (${reason(e)})`);
    }
    if (!(labels instanceof Int32Array) || labels.length !== f.rows) throw new Error(`${name}: the model gave ${labels?.length ?? 'no'} labels for ${f.rows} images; the bundle is not usable (re-run the experiment).`);
    for (const l of labels) {
      if (!known.has(l)) throw new Error(`${name}: the model predicted ${l}, which is not one of its classes; the bundle is not usable (re-run the experiment).`);
    }
    return labels;
  };
  const scoresChecked = async (f: Matrix, given?: Matrix): Promise<Matrix> => {
    let s: Matrix;
    try {
      s = given ?? (await model.scores!(f));
    } catch (e) {
      throw new Error(`${name}: the model could not score (${reason(e)})`);
    }
    if (s?.rows !== f.rows || s.cols !== classes.length || !(s.data instanceof Float32Array) || s.data.length !== s.rows * s.cols) {
      throw new Error(`${name}: the model's scores are not ${f.rows} × ${classes.length}; the bundle is not usable (re-run the experiment).`);
    }
    return s;
  };
  const names = header.dataset.classNames;
  const nameOf = (label: number) => names[label] ?? String(label);
  const features = async (images: Matrix | ImageInput | readonly ImageInput[]) => {
    const raw = imagesMatrix(images, imageShape, options.maxPixels);
    try {
      return transformRows(pipeline, raw);
    } catch (e) {
      throw new Error(`${name}: its feature pipeline failed on the images (${reason(e)})`);
    }
  };
  const scores = model.scores ? async (images: Matrix) => scoresChecked(await features(images)) : undefined;
  const trust = header.trust as Trust | undefined;
  const threshold = trust?.reject.threshold;
  const column = new Map(Array.from(classes, (c, i) => [c, i]));
  /** Labels and raw scores (when the model has them) of feature rows, in one pass where the model offers one. */
  const labelsAndScores = async (f: Matrix): Promise<{ labels: Int32Array; s?: Matrix }> => {
    if (!model.scores) return { labels: await predictChecked(f) };
    if (!model.predictWithScores) return { labels: await predictChecked(f), s: await scoresChecked(f) };
    let both: { labels: Int32Array; scores: Matrix };
    try {
      both = await model.predictWithScores(f);
    } catch (e) {
      throw new Error(`${name}: the model could not predict (${reason(e)})`);
    }
    return { labels: await predictChecked(f, both.labels), s: await scoresChecked(f, both.scores) };
  };
  const classifyFeatures = async (f: Matrix): Promise<Classified & { s?: Matrix }> => {
    const { labels, s } = await labelsAndScores(f);
    const confidence = new Float64Array(labels.length).fill(NaN);
    if (s) confidence.set(labelConfidence(s.data, classes.length, Array.from(labels, (l) => column.get(l)!), trust?.calibration));
    const unsure = new Uint8Array(labels.length);
    // null: no confidence reached the target accuracy on validation, so every answer is unsure.
    if (trust) for (let i = 0; i < labels.length; i++) unsure[i] = threshold === null || !(confidence[i]! >= threshold!) ? 1 : 0;
    return { labels, confidence, unsure, ...(s ? { s } : {}) };
  };
  const probabilities = model.scores
    ? async (images: Matrix) => {
        const s = await scoresChecked(await features(images));
        const cal = trust?.calibration ?? { method: 'temperature' as const, temperature: 1, logits: logitKindOf(s.data, classes.length), eps: PROBABILITY_FLOOR };
        return createMatrix(s.rows, s.cols, Float32Array.from(calibrate(s.data, classes.length, cal)));
      }
    : undefined;
  return {
    header,
    engineKind: options.native ? 'ort' : 'js',
    classes: model.classes,
    imageShape,
    features: pipeline.labels,
    scoreKind: scores ? header.plugin.scoreKind : undefined,
    predictLabels: async (images) => predictChecked(await features(images)),
    scores,
    trust,
    probabilities,
    async classify(input) {
      const { labels, confidence, unsure } = await classifyFeatures(await features(input));
      return { labels, confidence, unsure };
    },
    async predict(input, options = {}) {
      const { labels, confidence, unsure, s } = await classifyFeatures(await features(input));
      const top = options.top ?? 3;
      return Array.from(labels, (label, i) => {
        const p: Prediction = { label, name: nameOf(label), ...(s ? { confidence: confidence[i]! } : {}), unsure: unsure[i] === 1 };
        if (s && top > 0) {
          const row = Array.from(s.data.subarray(i * s.cols, (i + 1) * s.cols), (score, c) => ({ label: model.classes[c]!, name: nameOf(model.classes[c]!), score }));
          p.top = row.sort((a, b) => b.score - a.score || a.label - b.label).slice(0, top);
        }
        return p;
      });
    },
    engine: () => model.engine(),
    runtime: () => model.runtime?.() ?? { engine: model.engine(), threads: 1 },
    dispose: () => model.dispose(),
  };
}
