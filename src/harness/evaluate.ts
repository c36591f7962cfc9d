/**
 * `digitbench evaluate <bundle | report folder> <labelled data>`: how the models do on the user's own
 * labelled images, beside the accuracy their runs measured on the dataset's test rows.
 *
 * Labelled data is read as the experiment's dataset sources read it (../data/datasets.ts `loadDataset`):
 * a class-folder tree (an images source, brought to EACH bundle's own image shape: loaded once per distinct
 * shape), a CSV file (.csv or .csv.gz), a folder with the four idx files, or a JSON source object. One idx
 * images file with its labels file beside it (MNIST's naming: `…-images-idx3-ubyte` → `…-labels-idx1-ubyte`)
 * is read by the same idx reader (@digitbench/runtime io/idx.ts). Every labelled row is used: a source with train and test
 * parts gives both together.
 *
 * The data's class NAMES are mapped to each bundle's (header dataset.classNames): a data class the bundle does
 * not know is an error naming it; a bundle class absent from the data is reported as not present. Data that
 * names no classes (idx files, a CSV of index labels) is matched by label index, as its model was trained. Everything
 * (out folder, data, bundles, classes, shapes, predictions) is checked before anything is written.
 *
 * Figures per bundle: accuracy with its Wilson interval, macro-F1 (over the classes present in the data),
 * per-class precision / recall / F1 and counts, the confusion matrix and the misclassified images; McNemar
 * between bundles on the same images (each against the most accurate there, Holm-corrected, as the report's
 * significance section does), and, for a report folder, the report's deployment pick made again with the
 * accuracy measured here (the limits, latencies and sizes are the report's).
 *
 * `--corruptions all|name,name`: the same images also under MNIST-C corruptions (corrupted.ts, seeded by
 * --seed), each bundle measured on them with classify(): per corruption the accuracy, the answered (not
 * "unsure") share and the accuracy of the answered images; the mean corrupted accuracy, mCE and the worst
 * corruption, as an experiment's robustness rows have them. Without labelled data it uses the test rows of
 * each bundle's own split (its dataset must be here, with the content hash the bundle names).
 */
import { existsSync, statSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { loadModel } from '../bundle/file.ts';
import type { DigitModel } from '@digitbench/runtime/internal';
import { quoteLine } from '@digitbench/runtime/internal';
import { loadPluginFiles } from '../classifiers/registry.ts';
import { FILES, loadDataset, type Dataset } from '../data/datasets.ts';
import { entryKind, openRegularFile, readAt } from '@digitbench/runtime/internal';
import { IMAGE_MAGIC, LABEL_MAGIC, readIdxPair } from '@digitbench/runtime/internal';
import { datasetSourceSchema, type DatasetSource } from '../data/sources.ts';
import { createMatrix, type Matrix } from '@digitbench/runtime/internal';
import { confusionMatrix, type ConfusionMatrix } from '../metrics/confusion.ts';
import { wilson } from '../metrics/intervals.ts';
import { perClass } from '../metrics/per-class.ts';
import { holm, mcnemar } from '../metrics/significance.ts';
import { buildGroups, choose, deployLimits, forTarget, rankGroups, type Group } from '../report/analysis.ts';
import { cmp, slugify } from '../report/format.ts';
import { textTable } from '../report/table.ts';
import { checkOutDir, makeOutDir } from './folder.ts';
import { makeSplit, testPart } from '../data/split.ts';
import { classifyAll, corruptAll, corruptionList, corruptionSummary, matrixOf } from './corrupted.ts';
import type { Robustness } from '../results/row.ts';
import { reportRows } from './report-rows.ts';
import { evaluationMarkdown, type EvaluationCharts, type EvaluationDoc, type ModelEvaluation } from '../report/sections/evaluate.ts';

export type { ClassFigures, Comparison, EvaluationDoc, ModelEvaluation } from '../report/sections/evaluate.ts';
import { confusionChart } from '../report/vega.ts';
import { misclassifiedGrid, pickMisclassified } from '../report/images.ts';

export interface EvaluateOptions {
  json?: boolean;
  /** Folder for evaluation.md, evaluation.json and the charts (default: `<report folder>/evaluate-<data name>/`; none for a bundle). */
  out?: string;
  /** Plugin files for bundles whose plugin is not built in (as `predict --plugin`). */
  plugins?: string[];
  /** Also measure under these MNIST-C corruptions: "all" or names separated by commas. */
  corruptions?: string;
  /** The corruptions' seed (default 1, the experiments' default seed). */
  seed?: number;
}

/** One bundle's figures under the corruptions (row field robustness without the out-of-distribution part). */
export type CorruptionEvaluation = { label: string; trust: boolean } & Omit<Robustness, 'ood' | 'seconds'>;

/** evaluation.json with --corruptions. */
export type EvaluationWithCorruptions = EvaluationDoc & { corruptions?: { seed: number; names: string[]; models: CorruptionEvaluation[] } };

/** What the user handed as labelled data, before it is read. */
type DataSpec =
  | { kind: 'source'; source: DatasetSource; images: boolean; description: string }
  | { kind: 'idx-pair'; images: string; labels: string; description: string }
  | { kind: 'own'; description: string };

/** Labelled rows in one image shape. */
export interface LabelledData {
  name: string;
  classes: string[];
  imageShape: [number, number];
  images: Matrix;
  /** Index into `classes` per row. */
  labels: Int32Array;
  /** How the rows were gathered, e.g. "train and test parts together". */
  parts: string;
}

export interface EvaluateOutcome {
  out: string;
  notes: string[];
}

const GIVE_DATA = 'give a class-folder tree, a CSV file (.csv or .csv.gz), an idx images file (its labels file beside it) or a folder with the four idx files, or a JSON source object ({"images": …}, {"csv": …}, {"idx": …})';

/** The labels file that goes with an idx images file, by MNIST's naming (plain or .gz, as the images file). */
function labelsFileFor(images: string): string | undefined {
  const base = basename(images);
  if (!/images-idx3-ubyte/.test(base)) return undefined;
  return join(dirname(images), base.replace('images-idx3-ubyte', 'labels-idx1-ubyte'));
}

/** Reads what the data argument names, without reading the data itself. */
export async function dataSpec(arg: string): Promise<Exclude<DataSpec, { kind: 'own' }>> {
  if (arg.trimStart().startsWith('{')) {
    let raw: unknown;
    try {
      raw = JSON.parse(arg);
    } catch (e) {
      throw new Error(`labelled data: not valid JSON (${quoteLine((e as Error).message, 100)}); ${GIVE_DATA}.`);
    }
    const r = datasetSourceSchema.safeParse(raw);
    if (!r.success || typeof r.data === 'string') {
      const issue = r.success ? undefined : r.error.issues[0];
      throw new Error(`labelled data: ${issue ? `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}` : 'give a source object'}; ${GIVE_DATA}.`);
    }
    const source = r.data;
    const images = 'images' in source;
    return { kind: 'source', source, images, description: images ? 'an image folder' : 'csv' in source ? 'a CSV file' : 'idx files' };
  }
  let s;
  try {
    s = statSync(arg);
  } catch {
    throw new Error(`${arg}: no such file or folder; ${GIVE_DATA}.`);
  }
  if (s.isDirectory()) {
    const names = await readdir(arg);
    const has = (base: string) => names.includes(base) || names.includes(`${base}.gz`);
    if (Object.values(FILES).every(has)) return { kind: 'source', source: { idx: arg }, images: false, description: 'idx files (train and test)' };
    const pairs = names.filter((n) => /images-idx3-ubyte(\.gz)?$/.test(n)).map((n) => join(arg, n)).filter((f) => existsSync(labelsFileFor(f)!));
    if (pairs.length === 1) return { kind: 'idx-pair', images: pairs[0]!, labels: labelsFileFor(pairs[0]!)!, description: 'an idx pair' };
    if (pairs.length > 1) throw new Error(`${arg}: holds ${pairs.length} idx image files (${pairs.map((p) => basename(p)).join(', ')}); give one of them, or a folder with the four MNIST-format idx files.`);
    return { kind: 'source', source: { images: arg, imageShape: [28, 28], normalize: 'mnist' }, images: true, description: 'an image folder' };
  }
  if (!s.isFile()) throw new Error(`${arg}: not a regular file (${entryKind(s)}); ${GIVE_DATA}.`);
  if (/\.csv(\.gz)?$/i.test(arg)) return { kind: 'source', source: { csv: arg, header: 'auto', labelColumn: 'first', delimiter: ',' }, images: false, description: 'a CSV file' };
  // An idx file is told by its content: an images file needs its labels file beside it.
  const { handle, size } = await openRegularFile(arg, `${GIVE_DATA}.`);
  let head: Buffer;
  try {
    head = await readAt(handle, Math.min(4, size));
  } finally {
    await handle.close();
  }
  const magic = head.length === 4 ? head.readUInt32BE(0) : -1;
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  if (magic === LABEL_MAGIC || (gz && /labels-idx1-ubyte/.test(basename(arg)))) {
    throw new Error(`${arg}: that is an idx labels file; give the images file (${basename(arg).replace('labels-idx1-ubyte', 'images-idx3-ubyte')}), with this file beside it.`);
  }
  if (magic === IMAGE_MAGIC || (gz && /idx3/.test(basename(arg)))) {
    const labels = labelsFileFor(arg);
    if (!labels) throw new Error(`${arg}: an idx images file whose labels file cannot be found by name; name the pair …-images-idx3-ubyte and …-labels-idx1-ubyte, side by side.`);
    if (!existsSync(labels)) throw new Error(`${arg}: its labels file ${labels} is not there; put the idx labels file beside the images file.`);
    return { kind: 'idx-pair', images: arg, labels, description: 'an idx pair' };
  }
  throw new Error(`${arg}: not labelled data that digitbench reads; ${GIVE_DATA}.`);
}

/** Every labelled row of a dataset: train and test parts together, or the one pool. */
function allRows(ds: Dataset): LabelledData {
  const a = ds.train, b = ds.test;
  const n = a.labels.length + b.labels.length;
  const cols = ds.imageShape[0] * ds.imageShape[1];
  let images = a.images;
  let labels = a.labels;
  if (b.labels.length) {
    const data = new Float32Array(n * cols);
    data.set(a.images.data.subarray(0, a.labels.length * cols));
    data.set(b.images.data.subarray(0, b.labels.length * cols), a.labels.length * cols);
    images = createMatrix(n, cols, data);
    labels = new Int32Array(n);
    labels.set(a.labels);
    labels.set(b.labels, a.labels.length);
  }
  return { name: ds.name, classes: ds.classes, imageShape: ds.imageShape, images, labels, parts: b.labels.length ? 'its train and test parts together' : 'one pool' };
}

/** The test rows of the bundle's own split: its dataset loaded here (same content hash), the split made again (same fingerprint). */
async function ownTestRows(model: DigitModel, file: string): Promise<LabelledData> {
  const h = model.header;
  const fail = (why: string) => new Error(`${file}: ${why}; give labelled images to evaluate it on.`);
  let ds: Dataset;
  try {
    ds = await loadDataset(h.dataset.name);
  } catch {
    throw fail(`its dataset "${h.dataset.name}" cannot be loaded here by name`);
  }
  if (ds.contentHash !== h.dataset.contentHash) throw fail(`the dataset "${h.dataset.name}" here is not the data it was trained on (another content hash)`);
  const { train, validation, test, seed } = h.split;
  // A split that took the whole official test set was written without split.test: try both.
  for (const spec of [{ train, validation, test, seed }, { train, validation, seed }]) {
    let sp;
    try {
      sp = makeSplit(ds, spec);
    } catch {
      continue;
    }
    if (sp.fingerprint !== h.split.fingerprint) continue;
    const { x, y } = testPart(ds, sp);
    return { name: `${ds.name} test rows`, classes: ds.classes, imageShape: ds.imageShape, images: x, labels: y, parts: `the ${y.length} test rows of its run's split` };
  }
  throw fail(`its split (fingerprint ${h.split.fingerprint}) cannot be made again from its header`);
}

/** Reads the data in one image shape (image folders are brought to it; other sources have their own). */
async function readData(spec: Exclude<DataSpec, { kind: 'own' }>, shape: [number, number]): Promise<LabelledData> {
  if (spec.kind === 'idx-pair') {
    const { images, labels } = await readIdxPair(spec.images, spec.labels);
    let max = 0;
    for (const l of labels) if (l > max) max = l;
    return {
      name: basename(spec.images).replace(/[-.]?images-idx3-ubyte(\.gz)?$/, '') || basename(spec.images),
      classes: Array.from({ length: max + 1 }, (_, i) => String(i)),
      imageShape: [images.rows, images.cols],
      images: createMatrix(images.count, images.rows * images.cols, Float32Array.from(images.pixels)),
      labels: Int32Array.from(labels),
      parts: 'one pool',
    };
  }
  const source = spec.images ? { ...(spec.source as Exclude<DatasetSource, string>), imageShape: shape } : spec.source;
  return allRows(await loadDataset(source as DatasetSource));
}

interface Loaded {
  label: string;
  file: string;
  model: DigitModel;
  reportAccuracy?: number;
}

/** The bundles a target names: one file, or every bundle of a report folder that is on this machine. */
async function resolveBundles(target: string): Promise<{ bundles: { label: string; file: string; reportAccuracy?: number }[]; missing: string[]; report?: Awaited<ReturnType<typeof reportRows>> }> {
  if (!existsSync(target)) throw new Error(`${target}: no such file or folder; give a .bundle file or a report folder (e.g. runs/quick).`);
  if (!statSync(target).isDirectory()) return { bundles: [{ label: '', file: target }], missing: [] };
  if (!existsSync(join(target, 'results.jsonl'))) throw new Error(`${target} is a folder without results.jsonl; give a report folder (e.g. runs/quick) or a .bundle file.`);
  const report = await reportRows(target);
  const groups = buildGroups([...report.rows].sort((a, b) => cmp(a.startedAt, b.startedAt) || cmp(a.id, b.id)), []).filter((g) => g.runs.length && g.bundleFiles.length);
  const all = groups.map((g) => ({ label: g.label, file: join(target, g.bundleFiles[0]!), reportAccuracy: g.accuracyMean }));
  const bundles = all.filter((b) => existsSync(b.file));
  const missing = all.filter((b) => !existsSync(b.file)).map((b) => b.label);
  if (!bundles.length) {
    throw new Error(
      all.length
        ? `${target}: its bundles are not here (${all.map((b) => b.file).join(', ')}): bundles are written by runs on this machine and never committed; run \`npm run experiment -- <config>\` and give its folder.`
        : `${target}: no finished run wrote a bundle; run the experiment (with "bundles" on) and give its folder.`,
    );
  }
  return { bundles, missing, report };
}

/** Where the evaluation goes: --out, else `<report folder>/evaluate-<data name>/`, else nowhere. */
function outFolder(target: string, isFolder: boolean, dataName: string, out: string | undefined): string | undefined {
  if (out !== undefined) return out;
  return isFolder ? join(target, `evaluate-${slugify(dataName)}`) : undefined;
}

export const EVALUATION_MANIFEST = '.evaluation-files.json';

/** The out folder must be new, empty, or hold an earlier evaluation (whose files are replaced); checked before anything is written. */
async function checkEvaluationOut(dir: string, flag: string): Promise<void> {
  await checkOutDir(dir, flag);
  if (!existsSync(dir)) return;
  const names = (await readdir(dir)).filter((n) => n !== EVALUATION_MANIFEST);
  if (names.length && !names.includes('evaluation.json')) {
    throw new Error(`${flag} ${dir} holds other files (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', …' : ''}); give a new or empty folder, or one an earlier evaluate wrote.`);
  }
}

/** Class names for a message: up to 30, then how many in all. */
function namesList(names: readonly string[]): string {
  const shown = names.slice(0, 30).map((n) => quoteLine(n, 20)).join(', ');
  return names.length > 30 ? `${shown}, … (${names.length} in all)` : shown;
}

function rate(n: number): string {
  return Number.isFinite(n) ? `${(n * 100).toFixed(2)}%` : '—';
}

/** One bundle's figures on the data (labels already mapped to the bundle's). */
function figures(l: Loaded, truth: Int32Array, predicted: Int32Array, names: string[]): Omit<ModelEvaluation, 'label' | 'bundle'> {
  const h = l.model.header;
  const present = new Set(truth);
  const labels = [...new Set([...l.model.classes, ...truth])].sort((a, b) => a - b);
  const cm: ConfusionMatrix = confusionMatrix(truth, predicted, labels);
  const pc = perClass(cm);
  let correct = 0;
  for (let i = 0; i < truth.length; i++) if (truth[i] === predicted[i]) correct++;
  const classes = pc.classes.map((c) => ({ name: names[c.label] ?? String(c.label), label: c.label, precision: c.precision, recall: c.recall, f1: c.f1, support: c.support, predicted: c.predicted, present: present.has(c.label) }));
  const inData = classes.filter((c) => c.present);
  return {
    classifier: h.run.classifier,
    imageShape: [...h.dataset.imageShape] as [number, number],
    accuracy: correct / truth.length,
    correct,
    total: truth.length,
    interval: wilson(correct, truth.length),
    macroF1: inData.reduce((s, c) => s + c.f1, 0) / inData.length,
    testAccuracy: h.run.testAccuracy,
    testRows: h.run.testRows,
    ...(l.reportAccuracy !== undefined ? { reportAccuracy: l.reportAccuracy } : {}),
    classes,
    confusion: { labels: cm.labels, names: cm.labels.map((x) => names[x] ?? String(x)), counts: cm.counts },
    misclassified: truth.length - correct,
  };
}

export async function evaluateCommand(target: string, dataGiven: string | undefined, opts: EvaluateOptions = {}): Promise<EvaluateOutcome> {
  const notes: string[] = [];
  const corruptions = opts.corruptions === undefined ? undefined : corruptionList(opts.corruptions === 'all' ? 'all' : opts.corruptions.split(',').map((n) => n.trim()), '--corruptions');
  if (corruptions && !corruptions.length) throw new Error(`--corruptions: name "all" or corruptions separated by commas.`);
  const seed = opts.seed ?? 1;
  if (dataGiven === undefined && !corruptions) throw new Error(`give labelled data to evaluate on (${GIVE_DATA.replace(/^give /, '')}), or --corruptions to use each bundle's own test rows.`);
  if (opts.out !== undefined) await checkEvaluationOut(opts.out, '--out');
  const dataArg = dataGiven ?? "the bundle's own test rows";
  const spec: DataSpec = dataGiven === undefined ? { kind: 'own', description: "each bundle's own split" } : await dataSpec(dataGiven);
  const isFolder = existsSync(target) && statSync(target).isDirectory();
  const { bundles, missing, report } = await resolveBundles(target);
  for (const m of missing) notes.push(`note: ${m}: its bundle is not on this machine; not evaluated.`);
  const plugins = (await loadPluginFiles(opts.plugins ?? [])).map((p) => p.plugin);
  const loaded: Loaded[] = [];
  try {
    for (const b of bundles) {
      const model = await loadModel(b.file, { plugins });
      loaded.push({ label: b.label || model.header.run.classifier, file: b.file, model, ...(b.reportAccuracy !== undefined ? { reportAccuracy: b.reportAccuracy } : {}) });
    }
    // The data, once per distinct image shape among the bundles (only image folders are brought to a shape).
    const byShape = new Map<string, LabelledData>();
    const dataFor = async (l: Loaded): Promise<LabelledData> => {
      const shape = l.model.header.dataset.imageShape;
      const key = spec.kind === 'own' ? `own:${l.model.header.dataset.contentHash}:${l.model.header.split.fingerprint}` : spec.kind === 'source' && spec.images ? shape.join('x') : 'any';
      let d = byShape.get(key);
      if (!d) {
        d = spec.kind === 'own' ? await ownTestRows(l.model, l.file) : await readData(spec, [shape[0], shape[1]]);
        if (d.labels.length === 0) throw new Error(`${dataArg}: holds no labelled images; ${GIVE_DATA}.`);
        byShape.set(key, d);
      }
      return d;
    };
    const models: ModelEvaluation[] = [];
    const truths: Int32Array[] = [];
    const predictions: Int32Array[] = [];
    const dataUsed: LabelledData[] = [];
    // Every check before any prediction: shapes and classes of every bundle.
    for (const l of loaded) {
      const h = l.model.header;
      const d = await dataFor(l);
      if (d.imageShape[0] !== h.dataset.imageShape[0] || d.imageShape[1] !== h.dataset.imageShape[1]) {
        throw new Error(
          `${dataArg}: its images are ${d.imageShape.join('×')} but ${l.label} (${l.file}) takes ${h.dataset.imageShape.join('×')}; give images of that shape (a class-folder tree of PNG or JPEG images is brought to each model's shape).`,
        );
      }
      const known = new Map(h.dataset.classNames.map((n, i) => [n, i]));
      // Data that names no classes (idx files, a CSV of index labels: classes "0", "1", …) is matched by label
      // index, as the model was trained (a Fashion-MNIST model on its own t10k files); named data, by name.
      const byIndex = d.classes.every((n, i) => n === String(i));
      const present = [...new Set(d.labels)].sort((a, b) => a - b);
      const outside = byIndex ? present.filter((i) => i >= h.dataset.classNames.length) : [];
      if (outside.length) {
        throw new Error(
          `${dataArg}: ${outside.length > 1 ? 'labels' : 'label'} ${outside.join(', ')} ${outside.length > 1 ? 'are' : 'is'} outside the ${h.dataset.classNames.length} classes of ${l.label} (${namesList(h.dataset.classNames)}); remove ${outside.length > 1 ? 'their' : 'its'} images, or evaluate a model trained on ${outside.length > 1 ? 'them' : 'it'}.`,
        );
      }
      const unknown = byIndex ? [] : present.map((i) => d.classes[i]!).filter((n) => !known.has(n));
      if (unknown.length) {
        throw new Error(
          `${dataArg}: ${unknown.length > 1 ? 'classes' : 'class'} ${unknown.map((n) => `"${quoteLine(n, 40)}"`).join(', ')} ${unknown.length > 1 ? 'are' : 'is'} not among the classes of ${l.label} (${namesList(h.dataset.classNames)}); remove ${unknown.length > 1 ? 'their' : 'its'} images, or evaluate a model trained on ${unknown.length > 1 ? 'them' : 'it'}.`,
        );
      }
      const map = byIndex ? d.classes.map((_, i) => i) : d.classes.map((n) => known.get(n) ?? -1);
      truths.push(Int32Array.from(d.labels, (x) => map[x]!));
      dataUsed.push(d);
    }
    for (const [i, l] of loaded.entries()) {
      const pred = await l.model.predictLabels(dataUsed[i]!.images);
      predictions.push(pred);
      models.push({ label: l.label, bundle: l.file, ...figures(l, truths[i]!, pred, l.model.header.dataset.classNames) });
    }

    // McNemar: each against the most accurate on these images (the same rows for every bundle).
    let significance: EvaluationDoc['significance'] = null;
    if (models.length > 1) {
      const order = models.map((m, i) => i).sort((a, b) => models[b]!.accuracy - models[a]!.accuracy || cmp(models[a]!.label, models[b]!.label));
      const best = order[0]!;
      const tests = order.slice(1).map((i) => ({ i, r: mcnemar(truths[best]!, predictions[best]!, predictions[i]!) }));
      const adjusted = holm(tests.map((t) => t.r.pValue));
      significance = {
        best: models[best]!.label,
        comparisons: tests.map((t, k) => ({
          label: models[t.i]!.label,
          b: t.r.b,
          c: t.r.c,
          method: t.r.method,
          ...(t.r.statistic !== undefined ? { statistic: t.r.statistic } : {}),
          pValue: t.r.pValue,
          holmP: adjusted[k]!,
          differs: adjusted[k]! < 0.05,
        })),
      };
    }

    // The report's deployment pick, made again with the accuracy measured here.
    let pick: EvaluationDoc['pick'] = null;
    if (report) {
      const limits = deployLimits({ config: report.config });
      const groups = buildGroups([...report.rows].sort((a, b) => cmp(a.startedAt, b.startedAt) || cmp(a.id, b.id)), []).filter((g) => g.runs.length);
      const before = choose(forTarget(groups.filter((g) => g.deploy), limits.target, report.browser), limits);
      const measured = new Map(models.map((m) => [m.label, m.accuracy]));
      const mine: Group[] = rankGroups(groups.filter((g) => g.deploy && measured.has(g.label)).map((g) => ({ ...g, accuracyMean: measured.get(g.label)! })));
      const after = choose(forTarget(mine, limits.target, report.browser), limits);
      pick = {
        onYourImages: after.pick?.label ?? null,
        report: before.pick?.label ?? null,
        uncertain: after.contenders.map((g) => g.label),
        limits: { ...(limits.maxLatencyMs !== undefined ? { maxLatencyMs: limits.maxLatencyMs } : {}), ...(limits.maxModelBytes !== undefined ? { maxModelBytes: limits.maxModelBytes } : {}), ...(limits.target ? { target: limits.target } : {}) },
      };
    }

    // Under the corruptions: each distinct data set corrupted once (in two worker threads), every bundle measured on it.
    let corruptionDoc: EvaluationWithCorruptions['corruptions'];
    if (corruptions) {
      const made = new Map<LabelledData, Uint8Array>();
      const evaluations: CorruptionEvaluation[] = [];
      for (const [i, l] of loaded.entries()) {
        const d = dataUsed[i]!;
        const [h, w] = d.imageShape;
        let bytes = made.get(d);
        if (!bytes) made.set(d, (bytes = await corruptAll(d.images.data, d.images.rows, h, w, corruptions, seed)));
        const clean = await classifyAll(l.model, d.images, truths[i]!);
        const per = [];
        const size = d.images.rows * h * w;
        for (const [c, name] of corruptions.entries()) per.push({ name, ...(await classifyAll(l.model, matrixOf(bytes.subarray(c * size, (c + 1) * size), d.images.rows), truths[i]!)) });
        evaluations.push({ label: models[i]!.label, trust: l.model.trust !== undefined, ...corruptionSummary(clean, per) });
      }
      corruptionDoc = { seed, names: corruptions, models: evaluations };
    }

    const first = dataUsed[0]!;
    const counts = first.classes.map((name, i) => ({ name, count: first.labels.reduce((s, x) => s + (x === i ? 1 : 0), 0) })).filter((c) => c.count > 0);
    const doc: EvaluationWithCorruptions = {
      format: 'digitbench-evaluation',
      version: 1,
      data: {
        name: first.name,
        given: dataArg,
        description: spec.description,
        rows: first.labels.length,
        parts: first.parts,
        classes: counts,
        imageShapes: [...new Map(dataUsed.map((d) => [d.imageShape.join('x'), d.imageShape])).values()],
      },
      target,
      models,
      significance,
      pick,
      missing,
      ...(corruptionDoc ? { corruptions: corruptionDoc } : {}),
    };

    const dir = outFolder(target, isFolder, first.name, opts.out);
    if (dir !== undefined) {
      if (opts.out === undefined) await checkEvaluationOut(dir, 'the evaluation folder');
      await writeEvaluation(dir, doc, loaded, dataUsed, truths, predictions, corruptionDoc && corruptionsText(corruptionDoc));
      notes.push(`wrote ${join(dir, 'evaluation.md')}${corruptionDoc ? ', corruptions.md' : ''} and evaluation.json`);
    } else {
      notes.push('nothing written: add --out <dir> for evaluation.md, evaluation.json, the confusion charts and the misclassified images.');
    }
    return { out: opts.json ? `${JSON.stringify(doc, null, 2)}\n` : summaryText(doc) + (corruptionDoc ? `\n${corruptionsText(corruptionDoc)}` : ''), notes };
  } finally {
    for (const l of loaded) l.model.dispose();
  }
}

/** The per-corruption tables of --corruptions (stdout, and corruptions.md with --out). */
export function corruptionsText(c: NonNullable<EvaluationWithCorruptions['corruptions']>): string {
  const lines = [`Under ${c.names.length} MNIST-C corruption${c.names.length > 1 ? 's' : ''} (seed ${c.seed}):`];
  const sure = (x: number | null) => (x === null ? '—' : rate(x));
  for (const m of c.models) {
    lines.push(
      '',
      `${m.label}${m.trust ? '' : ' (no trust in the bundle: never unsure, every image answered)'}`,
      textTable(
        ['images', 'accuracy', 'answered', 'accuracy answered'],
        [['clean', rate(m.clean.accuracy), rate(m.clean.coverage), sure(m.clean.sureAccuracy)], ...m.corruptions.map((x) => [x.name, rate(x.accuracy), rate(x.coverage), sure(x.sureAccuracy)])],
        ['l', 'r', 'r', 'r'],
      ),
      `mean corrupted accuracy ${rate(m.meanAccuracy)} (clean ${rate(m.clean.accuracy)}), mCE ${m.mce.toFixed(2)}, worst ${m.worst} (${rate(m.corruptions.find((x) => x.name === m.worst)!.accuracy)}); answered ${rate(m.corrupted.coverage)} of the corrupted images, ${sure(m.corrupted.sureAccuracy)} of them right`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The summary printed on stdout. */
export function summaryText(doc: EvaluationDoc): string {
  const d = doc.data;
  const lines = [
    `${d.rows} labelled images from ${d.name} (${d.description}, ${d.parts}); classes: ${d.classes.map((c) => `${c.name} (${c.count})`).join(', ')}`,
    '',
    textTable(
      ['model', 'on your images', '95% interval', 'macro-F1', "run's test accuracy", 'difference'],
      doc.models.map((m) => [
        m.label,
        rate(m.accuracy),
        `${rate(m.interval.low)} – ${rate(m.interval.high)}`,
        m.macroF1.toFixed(4),
        `${rate(m.testAccuracy)} on ${m.testRows}`,
        `${m.accuracy - m.testAccuracy >= 0 ? '+' : '−'}${Math.abs((m.accuracy - m.testAccuracy) * 100).toFixed(2)} points`,
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
  ];
  if (doc.pick) {
    lines.push('', pickSentence(doc.pick));
  }
  return `${lines.join('\n')}\n`;
}

export function pickSentence(pick: NonNullable<EvaluationDoc['pick']>): string {
  const now = pick.onYourImages ? `On your images the pick is ${pick.onYourImages}` : 'On your images no model meets the report\'s deployment limits';
  const then = pick.report ? `the report's pick, on its test rows, is ${pick.report}` : 'the report itself picks none';
  const unsure = pick.uncertain.length ? `; uncertain, since the latencies of ${pick.uncertain.join(', ')} straddle the limit` : '';
  return `${now} (${then}${unsure}).`;
}

/** Writes evaluation.md, evaluation.json, the confusion charts and the misclassified grids; replaces an earlier evaluation's files. */
async function writeEvaluation(dir: string, doc: EvaluationDoc, loaded: Loaded[], data: LabelledData[], truths: Int32Array[], predictions: Int32Array[], corruptionsMd?: string): Promise<void> {
  const files: { name: string; bytes: Uint8Array | string }[] = [];
  const charts: EvaluationCharts[] = [];
  const seen = new Set<string>();
  for (const [i, m] of doc.models.entries()) {
    let slug = slugify(m.label);
    for (let n = 2; seen.has(slug); n++) slug = `${slugify(m.label)}-${n}`;
    seen.add(slug);
    const names = loaded[i]!.model.header.dataset.classNames;
    const entry: EvaluationCharts = { confusion: `confusion-${slug}.svg`, items: [] };
    files.push({ name: entry.confusion, bytes: await confusionChart({ labels: m.confusion.labels, counts: m.confusion.counts }, { title: `${m.label}: confusion matrix on your images`, classNames: names }) });
    if (m.misclassified > 0) {
      entry.items = pickMisclassified(truths[i]!, predictions[i]!, 40);
      entry.misclassified = `misclassified-${slug}.png`;
      files.push({ name: entry.misclassified, bytes: misclassifiedGrid(data[i]!.images, m.imageShape, entry.items, { columns: 10 }).png });
    }
    charts.push(entry);
  }
  const md = evaluationMarkdown(doc, charts);
  files.push({ name: 'evaluation.md', bytes: md }, { name: 'evaluation.json', bytes: `${JSON.stringify(doc, null, 2)}\n` });
  if (corruptionsMd !== undefined) files.push({ name: 'corruptions.md', bytes: `# Under corruptions\n\n\`\`\`\n${corruptionsMd}\`\`\`\n` });
  await makeOutDir(dir, '--out');
  const manifest = join(dir, EVALUATION_MANIFEST);
  let previous: string[] = [];
  if (existsSync(manifest)) {
    try {
      const v = JSON.parse(await readFile(manifest, 'utf8')) as unknown;
      if (Array.isArray(v)) previous = v.filter((n): n is string => typeof n === 'string' && (/^[^./\\][^/\\]*\.(svg|png)$/i.test(n) || n === 'corruptions.md'));
    } catch {
      previous = [];
    }
  }
  for (const f of files) await writeFile(join(dir, f.name), f.bytes);
  const names = new Set(files.map((f) => f.name));
  for (const old of previous) if (!names.has(old)) await rm(join(dir, old), { force: true });
  await writeFile(manifest, `${JSON.stringify([...names])}\n`);
}
