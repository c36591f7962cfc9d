/**
 * `digitbench export <bundle> --onnx <file>` (issue 25 item 7): a bundle's feature pipeline and model as
 * ONE ONNX graph (opset 17, and ai.onnx.ml 3 for trees), for onnxruntime or any ONNX runtime in another
 * language.
 *
 *   input   pixels  float32 [N, h·w]   raw 0–255 values of images already in the bundle's shape
 *                                      (what loadModel takes as raw pixels; no picture normalization)
 *   output  label       int64   [N]     the class label, as the bundle's predict gives it
 *           scores      float32 [N, C]  the model's raw scores (columns: labels ascending), as model.scores
 *           confidence  float32 [N]     the label's probability after the bundle's calibration, as classify
 *           unsure      bool    [N]     below the bundle's threshold, as classify
 *
 * `scores` stay the model's raw scores (what every plugin documents); the bundle's trust (the temperature
 * fitted on the run's validation rows, and the unsure threshold) goes into `confidence` and `unsure`.
 * Everything is checked, and the graph built, before the file is written; it is written to a temporary
 * name beside it and renamed, so a failure never leaves a partial file.
 */
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { decodeBundle, pipelineShapes, PROBABILITY_FLOOR, readBundleFile, type BundleContents, type Trust } from '@digitbench/runtime/internal';
import { DataType, GraphBuilder } from '@digitbench/runtime/internal';
import { checkSteps, f64, i64, Names, pipelineNodes } from './onnx-features.ts';
import { expNodes, logNodes } from './onnx-math.ts';
import { modelNodes, type ModelNodes } from './onnx-models.ts';

export interface OnnxExport {
  bytes: Uint8Array;
  plugin: string;
  features: string[];
  /** The graph's outputs, e.g. ["label", "scores"]. */
  outputs: string[];
  /** What `scores` are. */
  note: string;
  /** The bundle has a calibration (trust), which `confidence` and `unsure` apply. */
  calibrated: boolean;
  imageShape: readonly [number, number];
}

/** The ONNX model of a decoded bundle (throws a one-line error for a step or model without an ONNX form). */
export function bundleOnnx({ header, states, modelBytes }: BundleContents): OnnxExport {
  const specs = header.pipeline.map((p) => p.spec);
  const imageShape = header.dataset.imageShape as [number, number];
  checkSteps(specs, imageShape);
  const shapes = pipelineShapes(specs, imageShape);
  const outImage = shapes.length ? shapes[shapes.length - 1]!.image : imageShape;
  const g = new GraphBuilder('digitbench-bundle');
  const names = new Names();
  const [h, w] = imageShape;
  g.input('pixels', 'FLOAT', ['N', h * w]);
  const features = pipelineNodes(g, names, { name: 'pixels', type: 'FLOAT', cols: h * w }, specs, states, imageShape);
  const m = modelNodes({ g, names, header, modelBytes }, features, outImage);
  confidenceNodes(g, names, m, header.trust as Trust | undefined, header.classes.length);
  return {
    bytes: g.encode(17, m.opsets),
    plugin: header.plugin.name,
    features: shapes.map((s) => s.label),
    outputs: ['label', 'scores', 'confidence', 'unsure'],
    note: m.note,
    imageShape,
    calibrated: header.trust !== undefined,
  };
}

/**
 * `confidence` (float32 [N]) and `unsure` (bool [N]) as the bundle's classify gives them: the label's
 * probability after the bundle's calibration (calibration.ts: the scores as logits, divided by the
 * temperature, softmax, in float64), or, without one, the softmax of the uncalibrated logits; unsure where
 * that is below the bundle's threshold (every row when its threshold is null, none without trust).
 */
function confidenceNodes(g: GraphBuilder, names: Names, m: ModelNodes, trust: Trust | undefined, classes: number): void {
  const c = (v: number) => f64(g, names, 'c', [v], []);
  const cal = trust?.calibration;
  const kind = cal?.logits ?? m.logits;
  const s = g.node('Cast', ['scores'], [names.next('scores_f64')], { to: DataType.DOUBLE });
  let logits = s;
  if (kind === 'probability') logits = logNodes(g, names, g.node('Max', [s, c(cal?.eps ?? PROBABILITY_FLOOR)], [names.next('floored')]));
  else if (kind === 'ovr-votes') {
    // The margin m from votes + m / (3(|m| + 1)): f = v − round(v), m = 3f / max(1e-6, 1 − 3|f|) (|f| < 1/3: no halves to round).
    const f = g.node('Sub', [s, g.node('Round', [s], [names.next('votes')])], [names.next('fraction')]);
    const den = g.node('Max', [c(1e-6), g.node('Sub', [c(1), g.node('Mul', [c(3), g.node('Abs', [f], [names.next('abs_f')])], [names.next('three_abs_f')])], [names.next('one_minus')])], [names.next('den')]);
    logits = g.node('Div', [g.node('Mul', [c(3), f], [names.next('three_f')]), den], [names.next('margins')]);
  }
  // softmaxWithTemperature, bit for bit: the threshold is one of the validation rows' confidences, and
  // models with few distinct scores (votes, leaf fractions) give many rows exactly that value, or one that
  // differs from it in the last bit (the same fractions in another class order), so log and exp are
  // JavaScript's (onnx-math.ts) and the sum runs in class order, as the runtime's. With onnxruntime's own
  // Log, Exp and Softmax, rows on a forest's threshold fell on the other side of it.
  const tempered = g.node('Div', [logits, c(cal?.temperature ?? 1)], [names.next('tempered')]);
  const e = expNodes(g, names, g.node('Sub', [tempered, g.node('ReduceMax', [tempered], [names.next('max')], { axes: [1], keepdims: 1 })], [names.next('shifted')]));
  let sum: string | undefined;
  for (let col = 0; col < classes; col++) {
    const term = g.node('Gather', [e, i64(g, names, 'col', [col], [])], [names.next('exp_col')], { axis: 1 });
    sum = sum === undefined ? term : g.node('Add', [sum, term], [names.next('exp_sum')]);
  }
  const at = g.node('GatherElements', [e, g.node('Unsqueeze', [m.column, i64(g, names, 'axis1', [1], [1])], [names.next('column2')])], [names.next('label_exp')], { axis: 1 });
  const confidence = g.node('Div', [g.node('Squeeze', [at, i64(g, names, 'axis1', [1], [1])], [names.next('label_exp1')]), sum!], [names.next('confidence_f64')]);
  g.node('Cast', [confidence], ['confidence'], { to: DataType.FLOAT });
  g.output('confidence', 'FLOAT', ['N']);
  const threshold = trust?.reject.threshold;
  // !(confidence >= threshold), as classify; a null threshold (none reached the target) marks every row.
  const unsure = !trust
    ? g.node('Less', [confidence, c(-Infinity)], [names.next('never')])
    : threshold === null
      ? g.node('GreaterOrEqual', [confidence, c(-Infinity)], [names.next('always')])
      : g.node('Not', [g.node('GreaterOrEqual', [confidence, c(threshold!)], [names.next('sure')])], [names.next('below')]);
  g.node('Identity', [unsure], ['unsure']);
  g.output('unsure', 'BOOL', ['N']);
}

/**
 * Reads `bundleFile`, builds its ONNX model and writes it to `outFile` (through a temporary file). The
 * output's folder must exist; nothing is written when anything fails.
 */
export async function exportOnnx(bundleFile: string, outFile: string): Promise<OnnxExport & { file: string }> {
  const file = resolve(outFile);
  const dir = dirname(file);
  const where = await stat(dir).catch(() => undefined);
  if (!where?.isDirectory()) throw new Error(`export --onnx: the folder ${dir} does not exist; create it or give --onnx a file in an existing folder.`);
  if ((await stat(file).catch(() => undefined))?.isDirectory()) throw new Error(`export --onnx: ${file} is a folder; give --onnx a file name, e.g. ${file}/model.onnx.`);
  if (file === resolve(bundleFile)) throw new Error(`export --onnx: ${file} is the bundle itself; give --onnx another file, e.g. ${file.replace(/\.bundle$/, '')}.onnx.`);
  const contents = await decodeBundle(await readBundleFile(bundleFile), bundleFile);
  const out = bundleOnnx(contents);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, out.bytes);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new Error(`export --onnx: ${file} could not be written (${(e as Error).message.split('\n')[0]}).`);
  }
  return { ...out, file };
}
