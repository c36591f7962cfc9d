/**
 * One result row = one run of one classifier on one split (one line of <out>/results.jsonl, runs/<experiment>/ by default).
 * Rows are flat JSON holding everything the report needs, so the report re-renders without re-running.
 *
 * Writers: `id` should hash (canonical JSON) everything that changes the outcome: dataset content hash,
 * split fingerprint, feature steps, classifier name and parsed params, seed, repetition, package versions.
 * Predictions and test labels are stored with `encodeLabels` (compact base64), in test-split order.
 */
import { appendFile, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { sha256 } from '../engine/hash.ts';

const count = z.number().int().nonnegative();
const seconds = z.number().nonnegative();
/** One line of text, no line breaks (reasons, descriptions). */
const oneLine = z.string().min(1).regex(/^[^\r\n]*$/, 'must be one line');
/** "u8:<base64>" (every label in 0..255) or "i32:<base64>" (little-endian int32). */
const encodedLabels = z.string().regex(/^(u8|i32):[A-Za-z0-9+/]*={0,2}$/, 'must come from encodeLabels()');

export const splitInfoSchema = z
  .object({
    train: count,
    validation: count,
    test: count,
    seed: z.number().int(),
    /** Hash of the dataset content and the chosen indices: equal fingerprints = the same test rows. */
    fingerprint: z.string().min(1),
    /** The test rows were carved from one pool of labelled rows (the dataset has no separate test part). */
    carved: z.literal(true).optional(),
    /** Every part holds whole groups (the dataset has group ids, e.g. writers). */
    grouped: z.literal(true).optional(),
  })
  .strict();

export const envSchema = z
  .object({
    node: z.string(),
    platform: z.string(),
    cpu: z.string(),
    cores: z.number().int().positive(),
    /** The machine's host name (rows before it was recorded have none). */
    host: z.string().optional(),
    /** The queue worker that made the row ("host#pid"), when it came through a queue. */
    worker: z.string().optional(),
    /** The engine of the numeric work: onnxruntime-node ("ort") or tfjs ("wasm"); rows from before there were two have none (wasm). */
    engine: z.enum(['ort', 'wasm']).optional(),
    /** tfjs backend in use ("wasm", "tensorflow", "cpu"), or null when the run did not load tfjs. */
    tfjsBackend: z.string().nullable(),
    /** The most threads a part of the run kept busy (worker threads included). */
    threads: z.number().int().positive(),
    /**
     * Threads each part kept busy: fitting the feature pipeline (when more than 1), the classifier's fit and
     * its predict on the test rows, as the parts report them (rows before it was recorded have only `threads`).
     */
    threadsUsed: z
      .object({ features: z.number().int().positive().optional(), fit: z.number().int().positive(), predict: z.number().int().positive() })
      .strict()
      .optional(),
    /** Versions of the packages that did the work, e.g. {"ml-knn": "3.0.0"}. */
    packages: z.record(z.string(), z.string()),
    /** null outside a git checkout. */
    gitCommit: z.string().nullable(),
  })
  .strict();

export const timingSchema = z
  .object({
    /** Fitting and applying the feature pipeline (train + test). */
    featureSeconds: seconds,
    fitSeconds: seconds,
    /** Predicting the whole test set in one call. */
    predictSeconds: seconds,
    /** CPU time of the run's process during fit / predict, all threads (÷ the wall time: cores kept busy). */
    fitCpuSeconds: seconds.optional(),
    predictCpuSeconds: seconds.optional(),
    /** Per-sample latency (one row per predict call), median and 95th percentile. */
    latencyMsP50: seconds.optional(),
    latencyMsP95: seconds.optional(),
  })
  .strict();

export const metricsSchema = z
  .object({
    accuracy: z.number().min(0).max(1),
    macroF1: z.number().min(0).max(1),
    correct: count,
    total: count,
  })
  .strict();

/** One engine's deployment figures (deploy-child.ts, perEngine). */
const engineFiguresSchema = z
  .object({
    coldStartMs: seconds,
    latencyMsP50: seconds,
    latencyMsP95: seconds,
    calls: count,
    engine: z.string(),
  })
  .strict();

/** Measured on the run's bundle in a fresh process, from raw pixels (src/harness/deploy-child.ts). */
export const deploymentSchema = z
  .object({
    /** Read + decode + rebuild + first prediction, ms. */
    coldStartMs: seconds,
    /** End-to-end single-image latency over every timed call, ms. */
    latencyMsP50: seconds,
    latencyMsP95: seconds,
    /** p50 of each timed pass, ms: the spread the deployment pick looks at. */
    passP50Ms: z.array(seconds).min(1),
    calls: count,
    /** Images per second predicting `batch` images in one call. */
    throughputPerSecond: seconds,
    batch: count,
    threads: z.number().int().positive(),
    engine: z.string(),
    /** Test rows on which the bundle's label equals the run's recorded prediction. */
    agreement: z.object({ same: count, total: count }).strict(),
    /**
     * Where onnxruntime-node was the engine: the bundle as an app loads it (@digitbench/runtime's loadModel) on
     * each engine, 'ort' and 'js' (plain JS; the CNN on tfjs): cold start and single-image latency, and on how
     * many of the timed calls' rows (the same on both) their labels agree. Rows measured
     * without onnxruntime-node, and older rows, have none.
     */
    engines: z.object({ ort: engineFiguresSchema, js: engineFiguresSchema, labelsAgree: z.object({ same: count, total: count }).strict() }).strict().optional(),
  })
  .strict();

const unit = z.number().min(0).max(1);
/** ECE (15 equal-width bins of the top label's confidence), NLL (natural log) and Brier score of probabilities on the test rows. */
const calibrationFiguresSchema = z.object({ ece: unit, nll: z.number().nonnegative(), brier: z.number().min(0).max(2) }).strict();
/** One reliability-diagram bin: rows whose top confidence falls in ((i − 1)/15, i/15], their mean confidence and accuracy. */
const reliabilityBinSchema = z.object({ count, confidence: unit, accuracy: unit }).strict();

/**
 * Calibrated confidence and the "unsure" threshold (issue 24), fitted in the run's process on its
 * validation rows only, and measured on its test rows. `before`: the raw scores read as probabilities
 * (probability-like scores as they are, decision values through a softmax at T = 1); `after`: calibrated.
 * The threshold is stored in the bundle; the test figures at it are measured, not assumed.
 */
export const trustSchema = z
  .object({
    validationRows: count,
    /** How the scores became logits: the log of probability-like scores, or decision values as they are. */
    logits: z.enum(['probability', 'decision', 'ovr-votes']),
    temperature: z.number().positive(),
    eps: z.number().positive(),
    targetAccuracy: unit,
    /** The lowest calibrated confidence whose kept validation rows reach the target; null: none does (every answer unsure). */
    threshold: unit.nullable(),
    /** At the threshold, on the validation rows it was chosen on. */
    validation: z.object({ coverage: unit, accuracy: unit }).strict(),
    test: z
      .object({
        before: calibrationFiguresSchema,
        after: calibrationFiguresSchema,
        reliability: z.object({ before: z.array(reliabilityBinSchema), after: z.array(reliabilityBinSchema) }).strict(),
        /** At the threshold: the share of test rows answered (not unsure) and their accuracy (null when none is answered). */
        atThreshold: z.object({ coverage: unit, accuracy: unit.nullable(), answered: count }).strict(),
        /** The accuracy–coverage curve on the test rows (confidence of the predicted label), at most 101 points, coverage ascending. */
        curve: z.array(z.object({ coverage: unit, accuracy: unit, threshold: unit }).strict()),
      })
      .strict(),
  })
  .strict();

/** Accuracy and "unsure" figures of a bundle on one set of images, measured end to end in the deploy process. */
const sureFiguresSchema = z
  .object({
    correct: count,
    total: count,
    accuracy: unit,
    /** Answered (not unsure) images: their share and accuracy (null when none is answered). */
    answered: count,
    coverage: unit,
    sureAccuracy: unit.nullable(),
  })
  .strict();

/**
 * The bundle on corrupted and out-of-distribution inputs (experiment key `robustness`), measured in the
 * deploy process from raw pixels through the bundle's pipeline and model. Corruptions: the MNIST-C ones
 * applied to the test images (made once per experiment and split). `mce`: the mean over corruptions of
 * (error on the corruption / error on clean), MNIST-C's relative error; `worst`: the corruption with the
 * lowest accuracy. Out of distribution: Fashion-MNIST test images and uniform-noise images; `refused` =
 * answered "unsure" (needs the bundle's threshold).
 */
export const robustnessSchema = z
  .object({
    clean: sureFiguresSchema,
    corruptions: z.array(sureFiguresSchema.extend({ name: z.string().min(1) })),
    meanAccuracy: unit,
    mce: z.number().nonnegative(),
    worst: z.string().min(1),
    /** Every corrupted image pooled: answered share and accuracy. */
    corrupted: z.object({ answered: count, total: count, coverage: unit, sureAccuracy: unit.nullable() }).strict(),
    ood: z
      .object({
        fashion: z.union([z.object({ refused: count, total: count }).strict(), z.object({ skipped: oneLine }).strict()]),
        noise: z.object({ refused: count, total: count }).strict(),
      })
      .strict(),
    /** Wall time of the measurement (corrupted + out-of-distribution images), seconds. */
    seconds,
  })
  .strict();

/**
 * A compact bundle of a run (experiment key bundle.precision): the run's model with its large arrays
 * stored at `precision`, written beside the float32 bundle. Measured in the run's process on every test
 * row (accuracy; agreement with the float32 model's labels) and, like the float32 bundle, in a fresh
 * process (`deployment`, whose agreement is with the compact model's own labels). `error`: why it could
 * not be written or measured (the run itself stands).
 */
export const compactBundleSchema = z
  .object({
    precision: z.enum(['float16', 'int8']),
    file: z.string().min(1).optional(),
    /** Bundle size (pipeline + model + header). */
    bytes: count.optional(),
    /** The model bytes alone. */
    modelBytes: count.optional(),
    metrics: z.object({ accuracy: z.number().min(0).max(1), correct: count, total: count }).strict().optional(),
    /** Test rows on which it gives the float32 model's label. */
    agreement: z.object({ same: count, total: count }).strict().optional(),
    deployment: deploymentSchema.optional(),
    deploymentError: oneLine.optional(),
    error: oneLine.optional(),
  })
  .strict();

const baseShape = {
  id: z.string().min(1),
  experiment: z.string().min(1),
  dataset: z.string().min(1),
  split: splitInfoSchema,
  /** Feature step descriptions in order, e.g. ["scale", "pca(50)"]; [] for raw pixels. */
  features: z.array(z.string()),
  /** The experiment's name for the pipeline (its featureSets key), when it names them. */
  featureSet: z.string().min(1).optional(),
  /** How the setting was chosen, when the classifier had several (grid points, feature sets). */
  selection: z
    .object({
      method: z.enum(['cv', 'validation']),
      folds: z.number().int().positive(),
      candidates: z.number().int().positive(),
      /** Mean validation accuracy of the chosen setting. */
      validationAccuracy: z.number().min(0).max(1),
    })
    .strict()
    .optional(),
  /** Hash of the project code the run executed (src/harness/provenance.ts); part of the id. */
  code: z.string().min(1).optional(),
  /** Plugin name, e.g. "knn". */
  classifier: z.string().min(1),
  /** e.g. "ml-knn 3.0.0 (patched)". */
  library: z.string(),
  /** e.g. "tfjs-wasm 4.22.0 (SIMD, 1 thread)" or "js". */
  engine: z.string(),
  /** Parsed (defaults filled in) classifier params. */
  params: z.record(z.string(), z.unknown()),
  seed: z.number().int(),
  /** 0-based index among runs of the same classifier + params. */
  repetition: count,
  /** ISO 8601 time the run started. */
  startedAt: z.iso.datetime({ offset: true }),
  env: envSchema,
};

export const okRowSchema = z
  .object({
    ...baseShape,
    status: z.literal('ok'),
    metrics: metricsSchema,
    timing: timingSchema,
    peakRssMb: z.number().nonnegative(),
    /** Length of `serialize()` bytes (the model alone), when the plugin can serialize. */
    modelBytes: count.optional(),
    /** The run's model bundle: path relative to the report folder, and its size (pipeline + model + header). */
    bundle: z.object({ file: z.string().min(1), bytes: count }).strict().optional(),
    /** Why the run has no bundle (e.g. the plugin cannot serialize). */
    noBundle: oneLine.optional(),
    /**
     * refit: "all": the same setting fitted again on the run's training plus test rows (`trainRows`), written
     * as a second bundle: untested, so every figure of this row is the tested bundle's.
     */
    refit: z.object({ file: z.string().min(1), bytes: count, trainRows: count }).strict().optional(),
    /** Compact bundles (bundle.precision), one per precision asked for besides float32. */
    compact: z.array(compactBundleSchema).optional(),
    deployment: deploymentSchema.optional(),
    /** Why the bundle could not be measured. */
    deploymentError: oneLine.optional(),
    /** Calibration and the "unsure" threshold (fitted on validation rows), or why the run has none. */
    trust: trustSchema.optional(),
    noTrust: oneLine.optional(),
    /** The bundle on corrupted and out-of-distribution images (experiment key robustness), or why it was not measured. */
    robustness: robustnessSchema.optional(),
    robustnessError: oneLine.optional(),
    /** Predicted labels of the test rows (encodeLabels). */
    predictions: encodedLabels,
    /** True labels of the test rows (encodeLabels). May be left out when another row with the same hash holds them. */
    testLabels: encodedLabels.optional(),
    /** labelsHash() of the true test labels: links rows that share them. */
    testLabelsHash: z.string().min(1),
  })
  .strict();

export const notOkRowSchema = z
  .object({
    ...baseShape,
    status: z.enum(['failed', 'timeout', 'skipped']),
    /** One line: what went wrong (the error message, "no result after 600 s", why it was skipped). */
    reason: oneLine,
    /** Time spent before the run stopped, when known. */
    elapsedSeconds: seconds.optional(),
  })
  .strict();

export const resultRowSchema = z.discriminatedUnion('status', [okRowSchema, notOkRowSchema]);

/** One fold's figures for one candidate setting. */
export const foldSchema = z
  .object({
    train: count,
    validation: count,
    accuracy: z.number().min(0).max(1),
    fitSeconds: seconds,
    predictSeconds: seconds,
    /** Fitting and applying the pipeline on the fold (or when it was computed, if read from the cache). */
    featureSeconds: seconds,
    /** Applying the fitted pipeline to raw images, ms per image (one batch). */
    transformMsPerImage: seconds,
  })
  .strict();

/**
 * One candidate setting scored for selection: one line of selection.jsonl. Scored on folds of the
 * test run's training rows only; `runId` is the test run the selection serves.
 */
export const selectionRowSchema = z
  .object({
    id: z.string().min(1),
    runId: z.string().min(1),
    experiment: z.string().min(1),
    classifier: z.string().min(1),
    repetition: count,
    seed: z.number().int(),
    /** The outer split whose training rows the folds divide. */
    split: splitInfoSchema,
    method: z.enum(['cv', 'validation']),
    featureSet: z.string().min(1).optional(),
    features: z.array(z.string()),
    params: z.record(z.string(), z.unknown()),
    /** Position among the classifier's candidates (the order of the experiment file). */
    candidate: count,
    status: z.enum(['ok', 'failed', 'timeout']),
    folds: z.array(foldSchema).optional(),
    reason: oneLine.optional(),
    startedAt: z.iso.datetime({ offset: true }),
    code: z.string().min(1),
    /** Where it was scored: the machine, the queue worker (absent in a local run), the engine. */
    env: z.object({ host: z.string().optional(), worker: z.string().optional(), engine: z.string().optional() }).strict().optional(),
    /** The search's rung (0 for a grid or random search; successive halving's later rungs count up). */
    rung: count.optional(),
    /** What this rung gave each fold: training rows, or the CNN's epochs (successive halving; absent: all of them). */
    resource: z.object({ kind: z.enum(['rows', 'epochs']), value: z.number().int().positive() }).strict().optional(),
    /** The search strategy that asked for this candidate ("grid", "random", "halving"). */
    search: z.string().min(1).optional(),
    /** Wall time of the candidate's scoring process, seconds. */
    elapsedSeconds: seconds.optional(),
  })
  .strict();

/**
 * One queue job as the coordinator saw it finish: one line of jobs.jsonl beside the results (the bench's
 * critical path is computed from these). Times are BullMQ's (ms since the epoch, as ISO strings).
 */
export const jobRowSchema = z
  .object({
    jobId: z.string().min(1),
    runId: z.string().min(1),
    experiment: z.string().min(1),
    classifier: z.string().min(1),
    /** A whole run (plain run job), a run's parent job (flow), or one candidate × rung. */
    kind: z.enum(['run', 'parent', 'candidate']),
    rung: count.optional(),
    candidate: count.optional(),
    worker: z.string().optional(),
    queuedAt: z.iso.datetime({ offset: true }),
    startedAt: z.iso.datetime({ offset: true }).optional(),
    finishedAt: z.iso.datetime({ offset: true }).optional(),
    attemptsStarted: count,
    stalls: count,
    status: z.enum(['completed', 'failed']),
    /** A parent's own phases (its activations), seconds each, in order. */
    segments: z.array(z.object({ phase: z.string().min(1), seconds }).strict()).optional(),
  })
  .strict();

export type JobRow = z.infer<typeof jobRowSchema>;

/**
 * One bundle measured in a real browser (`digitbench browser-bench`): one line of browser.jsonl beside
 * the results, joined to its run by `runId`. One row per run and page mode (with or without the COOP/COEP
 * headers that make the page cross-origin isolated); the newest row of an id wins.
 */
export const browserRowSchema = z
  .object({
    /** Hash of runId, isolated and the browser: a re-measurement replaces the older row. */
    id: z.string().min(1),
    runId: z.string().min(1),
    experiment: z.string().min(1),
    classifier: z.string().min(1),
    /** The bundle, relative to the report folder. */
    bundle: z.string().min(1),
    /** The page was served with COOP/COEP. */
    isolated: z.boolean(),
    /** What the page reported (self.crossOriginIsolated): threads and a fine clock need it. */
    crossOriginIsolated: z.boolean(),
    /** e.g. "Chromium 150.0.7871.100 (headless)". */
    browser: oneLine,
    status: z.enum(['ok', 'failed']),
    reason: oneLine.optional(),
    /** What the page downloaded to run this model (page, scripts, wasm, bundle): gzip-encoded as sent, and decoded. */
    download: z.object({ gzipBytes: count, bytes: count, files: count }).strict().optional(),
    /** Navigation start → first prediction, and its parts, ms. */
    coldStart: z
      .object({ totalMs: seconds, pageMs: seconds, fetchMs: seconds, rebuildMs: seconds, firstPredictMs: seconds })
      .strict()
      .optional(),
    latencyMsP50: seconds.optional(),
    latencyMsP95: seconds.optional(),
    /** p50 of each pass of `calls / passes` timed calls. */
    passP50Ms: z.array(seconds).optional(),
    calls: count.optional(),
    /** The smallest step of the page's performance.now(), ms (0.1 when not isolated). */
    timerResolutionMs: seconds.optional(),
    engine: z.string().optional(),
    threads: z.number().int().positive().optional(),
    /** Test rows on which the page's label (every row, in batches) equals the run's Node prediction; the rows that differ (first 20). */
    agreement: z
      .object({
        same: count,
        total: count,
        differing: z.array(z.object({ row: count, browser: z.number().int(), node: z.number().int(), top: z.string() }).strict()),
      })
      .strict()
      .optional(),
    measuredAt: z.iso.datetime({ offset: true }),
    /** The project code the page was built from (git commit), null outside a checkout. */
    gitCommit: z.string().nullable(),
    cpu: z.string(),
    cores: z.number().int().positive(),
  })
  .strict();

export type BrowserRow = z.infer<typeof browserRowSchema>;

/** A JSON-lines file of side rows beside the results: reading a missing file gives no rows; writing validates first. */
function sideRows<S extends z.ZodType<{ classifier: string }>>(schema: S, what: string) {
  return {
    /** Every row; an incomplete last line is skipped and told to `warn` (default: one line on stderr). */
    async read(file: string, opts: { warn?: (message: string) => void } = {}): Promise<z.output<S>[]> {
      const text = await readJsonl(file);
      return text === undefined ? [] : parseLines(text, file, schema, `${what} row`, opts.warn);
    },
    async append(file: string, row: z.output<S>): Promise<void> {
      const r = schema.safeParse(row);
      if (!r.success) throw new Error(`${what[0]!.toUpperCase()}${what.slice(1)} row for "${row.classifier}" is invalid (${describeIssue(r.error)}); it was not written to ${file}.`);
      await appendLine(file, JSON.stringify(r.data));
    },
  };
}

const browserRows = sideRows(browserRowSchema, 'browser');
/** Reads browser.jsonl (none yet: no rows). */
export const readBrowserRows = browserRows.read;
export const appendBrowserRow = browserRows.append;

export type Fold = z.infer<typeof foldSchema>;
export type SelectionRow = z.infer<typeof selectionRowSchema>;

const selectionRows = sideRows(selectionRowSchema, 'selection');
/** Reads selection.jsonl (none yet: no rows). */
export const readSelectionRows = selectionRows.read;
export const appendSelectionRow = selectionRows.append;

const jobRows = sideRows(jobRowSchema, 'job');
/** Reads jobs.jsonl (none yet: no rows). */
export const readJobRows = jobRows.read;
export const appendJobRow = jobRows.append;

export type SplitInfo = z.infer<typeof splitInfoSchema>;
export type Env = z.infer<typeof envSchema>;
export type Deployment = z.infer<typeof deploymentSchema>;
export type TrustFigures = z.infer<typeof trustSchema>;
export type Robustness = z.infer<typeof robustnessSchema>;
export type CompactBundle = z.infer<typeof compactBundleSchema>;
export type Timing = z.infer<typeof timingSchema>;
export type RunMetrics = z.infer<typeof metricsSchema>;
export type OkRow = z.infer<typeof okRowSchema>;
export type NotOkRow = z.infer<typeof notOkRowSchema>;
export type ResultRow = z.infer<typeof resultRowSchema>;
export type RunStatus = ResultRow['status'];

/** Labels as a compact string: one byte each when all fit in 0..255, else little-endian int32. */
export function encodeLabels(labels: Int32Array): string {
  let small = true;
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i]!;
    if (v < 0 || v > 255) {
      small = false;
      break;
    }
  }
  if (small) return 'u8:' + Buffer.from(Uint8Array.from(labels)).toString('base64');
  const le = Buffer.alloc(labels.length * 4);
  for (let i = 0; i < labels.length; i++) le.writeInt32LE(labels[i]!, i * 4);
  return 'i32:' + le.toString('base64');
}

export function decodeLabels(encoded: string): Int32Array {
  const colon = encoded.indexOf(':');
  const kind = encoded.slice(0, colon);
  const bytes = Buffer.from(encoded.slice(colon + 1), 'base64');
  if (kind === 'u8') return Int32Array.from(bytes);
  if (kind === 'i32' && bytes.length % 4 === 0) {
    const out = new Int32Array(bytes.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = bytes.readInt32LE(i * 4);
    return out;
  }
  throw new Error(`Encoded labels "${encoded.slice(0, 20)}…" are not in the u8:/i32: base64 format; write them with encodeLabels().`);
}

/** Labels for a message: "0–9" when consecutive, else a list ("0, 2, 4, 6, 8"; the first 10 and a count when longer). */
export function describeLabels(labels: Int32Array): string {
  const n = labels.length;
  if (n === 0) return 'none';
  if (n > 2 && labels[n - 1]! - labels[0]! === n - 1) return `${labels[0]}–${labels[n - 1]}`;
  return n <= 10 ? Array.from(labels).join(', ') : `${Array.from(labels.subarray(0, 10)).join(', ')}, … (${n} labels)`;
}

/** Whether `label` is one of `sorted` (ascending). */
function memberOf(sorted: Int32Array): (label: number) => boolean {
  const lo = sorted[0] ?? 0;
  const span = sorted.length ? sorted[sorted.length - 1]! - lo + 1 : 0;
  if (span > 0 && span <= 65536) {
    const table = new Uint8Array(span);
    for (const c of sorted) table[c - lo] = 1;
    return (v) => v >= lo && v - lo < span && table[v - lo] === 1;
  }
  return (v) => {
    let a = 0;
    let b = sorted.length - 1;
    while (a <= b) {
      const m = (a + b) >> 1;
      if (sorted[m] === v) return true;
      if (sorted[m]! < v) a = m + 1;
      else b = m - 1;
    }
    return false;
  };
}

/**
 * The plugin contract the harness checks on every prediction it records: each label is one of the
 * model's classes. One pass (a lookup table for digit-sized label ranges). Throws one line naming the
 * first label outside them.
 */
export function checkPredictedLabels(labels: Int32Array, classes: Int32Array): void {
  const sorted = Int32Array.from(classes).sort();
  const has = memberOf(sorted);
  for (let i = 0; i < labels.length; i++) {
    if (!has(labels[i]!)) {
      throw new Error(`the plugin's model predicted label ${labels[i]}, which is not one of its classes (${describeLabels(sorted)}); a plugin's predict must return one of model.classes`);
    }
  }
}

/** The model's classes must be labels it was trained on (so that a prediction inside them is one too). */
export function checkModelClasses(classes: Int32Array, trainingLabels: Int32Array): void {
  const trained = Int32Array.from(new Set(trainingLabels)).sort();
  const has = memberOf(trained);
  for (const c of classes) {
    if (!has(c)) {
      throw new Error(`the plugin's model lists class ${c} in model.classes, which is not a label of its training rows (${describeLabels(trained)}); model.classes must be the labels fit was given`);
    }
  }
}

/** Short hash of a label vector, for `testLabelsHash`. */
export function labelsHash(labels: Int32Array): string {
  return sha256(labels).slice(0, 16);
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${issue.path.length ? issue.path.join('.') : 'row'}: ${issue.message}`;
}

/** Where readers tell of an incomplete last line they skipped (default: one line on stderr). */
export type WarnFn = (message: string) => void;
const warnOnStderr: WarnFn = (m) => void process.stderr.write(`digitbench: warning: ${m}\n`);

/** The largest JSON-lines file read (a results.jsonl of 1,000 full-MNIST runs is about 30 MB). */
export const MAX_JSONL_BYTES = 256 * 1024 * 1024;

/** A JSON-lines file's stat, or undefined when it does not exist; anything but a regular file is refused. */
async function jsonlStat(file: string) {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  if (!st.isFile()) throw new Error(`${file} is not a regular file; it must be the JSON-lines file digitbench wrote there (move the other thing away).`);
  return st;
}

/** A JSON-lines file's text, or undefined when it does not exist; anything but a regular file of sane size is refused first. */
async function readJsonl(file: string): Promise<string | undefined> {
  const st = await jsonlStat(file);
  if (!st) return undefined;
  if (st.size > MAX_JSONL_BYTES) {
    throw new Error(`${file} is ${Math.round(st.size / 2 ** 20)} MB, more than the ${MAX_JSONL_BYTES / 2 ** 20} MB digitbench reads; start a fresh experiment folder (--fresh or --out).`);
  }
  return readFile(file, 'utf8');
}

/**
 * Parses the text of a results.jsonl file; `file` only names it in errors. Blank lines are skipped, and
 * so is an incomplete last line (not JSON: cut off by an interrupted write), which is told to `warn`.
 */
export function parseRows(text: string, file: string, warn: WarnFn = warnOnStderr): ResultRow[] {
  return parseLines(text, file, resultRowSchema, 'result row', warn);
}

function parseLines<S extends z.ZodType>(text: string, file: string, schema: S, what: string, warn: WarnFn = warnOnStderr): z.output<S>[] {
  const rows: z.output<S>[] = [];
  const lines = text.split('\n');
  let last = lines.length - 1;
  while (last >= 0 && !lines[last]!.trim()) last--;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (e) {
      if (i === last) {
        // What a power cut or a kill mid-write leaves: the row it was writing never happened.
        warn(`${file} line ${i + 1} is an incomplete ${what} (cut off by an interrupted write); it is skipped, and the next run that writes to the file moves it aside.`);
        continue;
      }
      throw new Error(`${file} line ${i + 1} is not valid JSON (${(e as Error).message}); fix or delete that line.`);
    }
    const r = schema.safeParse(json);
    if (!r.success) {
      throw new Error(`${file} line ${i + 1} is not a valid ${what} (${describeIssue(r.error)}); fix or delete that line.`);
    }
    rows.push(r.data);
  }
  return rows;
}

/** Reads and validates every row of a results.jsonl file (an incomplete last line is skipped and told to `warn`). */
export async function readRows(file: string, opts: { warn?: WarnFn } = {}): Promise<ResultRow[]> {
  const text = await readJsonl(file);
  if (text === undefined) throw new Error(`Results file ${file} does not exist; run the experiment first.`);
  return parseRows(text, file, opts.warn);
}

/** Validates a row and appends it as one line (creating the file and its folder if needed). */
export async function appendRow(file: string, row: ResultRow): Promise<void> {
  const r = resultRowSchema.safeParse(row);
  if (!r.success) {
    throw new Error(`Result row for "${String((row as { classifier?: unknown }).classifier)}" is invalid (${describeIssue(r.error)}); it was not written to ${file}.`);
  }
  await appendLine(file, JSON.stringify(r.data));
}

/**
 * Appends one line, after setting aside an incomplete last line (setAsideTornLine, with a warning on
 * stderr), so that the new line is never glued to what an interrupted write left.
 */
async function appendLine(file: string, line: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const torn = await setAsideTornLine(file);
  if (torn) warnOnStderr(torn.message);
  await appendFile(file, line + '\n', 'utf8');
}

/** What setAsideTornLine did: where the cut-off text went, and a one-line note for the user. */
export interface TornLine {
  /** The side file now holding the cut-off text: `<file>.torn-<time>`. */
  kept: string;
  /** How many bytes were moved there. */
  bytes: number;
  message: string;
}

const isSpace = (b: number) => b === 0x0a || b === 0x0d || b === 0x20 || b === 0x09;

/**
 * For a writer opening a JSON-lines file (results.jsonl, selection.jsonl, browser.jsonl) before it reads
 * and appends: when the last line is incomplete (not JSON, as a power cut or a kill mid-write leaves it),
 * moves that text to `<file>.torn-<time>` (written and synced first) and truncates the file to the end of
 * its last complete line, so nothing is glued to it and every reader reads the file again. A last line
 * that is complete JSON but lacks its newline gets the newline. Returns what was moved, or undefined
 * (nothing to do, or no file). Reads only the file's tail. Never changes any other line.
 */
export async function setAsideTornLine(file: string): Promise<TornLine | undefined> {
  if (!(await jsonlStat(file))) return undefined;
  const fh = await open(file, 'r+');
  try {
    const size = (await fh.stat()).size;
    // The tail, grown until it holds the whole last line (and the newline before it, unless it starts the file).
    let tail = Buffer.alloc(0);
    let from = size;
    let end = -1;
    let start = -1;
    for (let chunk = 64 * 1024; ; chunk *= 2) {
      from = Math.max(0, size - chunk);
      tail = Buffer.alloc(size - from);
      await fh.read(tail, 0, tail.length, from);
      end = tail.length;
      while (end > 0 && isSpace(tail[end - 1]!)) end--;
      if (end === 0 && from === 0) return undefined; // empty or blank
      if (end > 0) {
        const nl = tail.lastIndexOf(0x0a, end - 1);
        if (nl >= 0 || from === 0) {
          start = nl + 1;
          break;
        }
      }
      if (from === 0) break;
    }
    const text = tail.subarray(start, end);
    const hasNewline = tail.indexOf(0x0a, end) >= 0;
    let complete = true;
    try {
      JSON.parse(text.toString('utf8'));
    } catch {
      complete = false;
    }
    if (complete) {
      if (!hasNewline) await fh.write('\n', size);
      return undefined;
    }
    const cut = from + start;
    const moved = tail.subarray(start);
    const kept = await writeAside(file, moved);
    await fh.truncate(cut);
    await fh.sync();
    return {
      kept,
      bytes: moved.length,
      message: `${file} ended in an incomplete line (${moved.length} bytes cut off by an interrupted write); it was moved to ${kept}, and every complete line before it is kept.`,
    };
  } finally {
    await fh.close();
  }
}

/** Writes and syncs `<file>.torn-<time>` (never over an existing file); returns its path. */
async function writeAside(file: string, bytes: Uint8Array): Promise<string> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (let n = 0; ; n++) {
    const kept = `${file}.torn-${stamp}${n ? `-${n}` : ''}`;
    let out;
    try {
      out = await open(kept, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    try {
      await out.writeFile(bytes);
      await out.sync();
    } finally {
      await out.close();
    }
    return kept;
  }
}
