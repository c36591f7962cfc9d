/**
 * `digitbench export <bundle> --onnx <file>` (issue 25 item 7): a bundle's feature pipeline and model as
 * ONE ONNX graph (opset 17, and ai.onnx.ml 3 for trees), for onnxruntime or any ONNX runtime in another
 * language.
 *
 *   input   pixels  float32 [N, h·w]   raw 0–255 values of images already in the bundle's shape
 *                                      (what loadModel takes as raw pixels; no picture normalization)
 *   output  label   int64   [N]        the class label, as the bundle's predict gives it
 *           scores  float32 [N, C]     the model's raw scores (columns: labels ascending), where it has them
 *
 * The scores are the model's raw scores (model.scores), not the bundle's calibrated probabilities: the
 * calibration (trust: temperature or the SVM margin fit) and the unsure threshold stay in the bundle,
 * and a caller who wants them applies them to `scores` (docs/native-design.md says why).
 * Everything is checked, and the graph built, before the file is written; it is written to a temporary
 * name beside it and renamed, so a failure never leaves a partial file.
 */
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { decodeBundle, pipelineShapes, readBundleFile, type BundleContents } from '@digitbench/runtime/internal';
import { GraphBuilder } from '../engine/onnx.ts';
import { checkSteps, Names, pipelineNodes } from './onnx-features.ts';
import { modelNodes } from './onnx-models.ts';

export interface OnnxExport {
  bytes: Uint8Array;
  plugin: string;
  features: string[];
  /** The graph's outputs, e.g. ["label", "scores"]. */
  outputs: string[];
  /** What `scores` are, or why there are none. */
  note: string;
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
  return {
    bytes: g.encode(17, m.opsets),
    plugin: header.plugin.name,
    features: shapes.map((s) => s.label),
    outputs: m.scores ? ['label', 'scores'] : ['label'],
    note: m.note,
    imageShape,
  };
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
