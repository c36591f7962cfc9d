/** The report's options and output, shared by the assembler and its sections. */
import type { Matrix } from '@digitbench/runtime/internal';
import type { BrowserRow, ResultRow, SelectionRow } from '../results/row.ts';

export interface DeployLimits {
  /** Largest acceptable per-sample latency, in milliseconds. */
  maxLatencyMs?: number;
  /** Largest acceptable serialized model, in bytes. */
  maxModelBytes?: number;
  /**
   * Whose figures the Pareto set and the pick use: the bundle in a Node process (default), or in a
   * browser page (`digitbench browser-bench`: latency there, and the gzip download instead of the bundle size).
   */
  target?: 'node' | 'browser';
  /** Smallest share of clean test rows answered (not "unsure") at the reject target, 0..1. */
  minCoverage?: number;
  /** Smallest mean accuracy over the corruptions (experiment key robustness), 0..1. */
  minCorruptedAccuracy?: number;
  /** Largest expected calibration error after calibration, 0..1. */
  maxEce?: number;
  /** What the Pareto set and the pick rank on: test accuracy (default) or coverage at the "unsure" threshold. */
  axis?: 'accuracy' | 'coverage';
}

export interface ReportOptions {
  /** The experiment config, shown as JSON; its `deploy` field (DeployLimits) sets the deployment limits. */
  config?: unknown;
  title?: string;
  /** Overrides config.deploy. */
  deploy?: DeployLimits;
  /**
   * Raw (0..255) test images, one row each, in the order of the split's test rows, for the grids of
   * misclassified digits. Either one matrix (used for every run whose test set has that many rows)
   * or a record keyed by split fingerprint.
   */
  testImages?: Matrix | Readonly<Record<string, Matrix>>;
  /** Height × width of a test image (default: square, from the matrix width). */
  imageShape?: readonly [number, number];
  /** Class names by label (e.g. the dataset's `classes`); default: the label number. */
  classNames?: readonly string[];
  /** Most misclassified digits drawn per classifier (default 40). */
  maxMisclassified?: number;
  /** The selection rows (selection.jsonl) of the reported runs: candidates scored on validation folds. */
  selection?: readonly SelectionRow[];
  /** Browser measurements of the runs' bundles (browser.jsonl), joined by runId. */
  browser?: readonly BrowserRow[];
  /** Another report's rows to set these beside (the experiment's compare.baseline), and the folder they came from. */
  baseline?: { dir: string; rows: readonly ResultRow[] };
  /** Published figures per classifier label (the experiment's compare.published). */
  published?: readonly PublishedFigure[];
}

export interface PublishedFigure {
  classifier: string;
  /** Percent. */
  accuracy?: number;
  target?: number;
  source: string;
}

/** The reason a run has no bundle when the experiment turned them off (written by the harness). */
export const BUNDLES_OFF = 'bundles are off in this experiment ("bundles": false)';

export interface ReportFile {
  name: string;
  bytes: Uint8Array;
}

export interface Report {
  markdown: string;
  files: ReportFile[];
}
