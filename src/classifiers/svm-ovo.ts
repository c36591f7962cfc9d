/**
 * libsvm's multi-class C-SVC, trained one pair of classes at a time (so the pairs can run in worker threads),
 * and assembled into the model text libsvm's own svm_train + svm_save_model would write.
 *
 * What libsvm's svm_train does for k > 2 classes (svm.cpp, C_SVC without probability estimates):
 * - classes are ordered by first appearance in the labels; rows are grouped by class, each group in original order;
 * - for each pair i < j (in that order) it trains a binary C-SVC (svm_train_one) on the rows of class i (+1)
 *   followed by the rows of class j (−1), with the same C, kernel, cache size, tolerance and shrinking;
 * - a row is a support vector of the model if its coefficient is non-zero in any pair; SVs are listed by class,
 *   each class's in original order (nr_sv counts them per class);
 * - sv_coef has k − 1 columns: the coefficient of an SV of class c in pair (c, o) sits in column o − 1 when c < o
 *   and in column o when o < c; an SV that is not one of that pair's gets alpha·y = +0 (class i side) or −0
 *   (class j side, printed "-0");
 * - rho is one per pair, in pair order.
 * Training the same binary problem as a stand-alone 2-class problem (+1 rows first, so libsvm keeps +1 as its
 * first label and swaps nothing) runs the same solver on the same rows in the same order: the same alphas and rho.
 * Numbers are copied as libsvm printed them in each pair's model text (coefficients, rho, feature values), so the
 * assembled text is byte-for-byte what libsvm writes for the multi-class model (checked in test/svm.test.ts).
 */
import type { Matrix } from '@digitbench/runtime/internal';

// ---------------------------------------------------------------------------------------------------
// The library (also loaded in each worker thread: one wasm instance per thread)

export interface LibsvmInstance {
  train(samples: ArrayLike<number>[], labels: number[]): void;
  predict(samples: ArrayLike<number>[]): number[];
  predictOneProbability(sample: ArrayLike<number>): { prediction: number; estimates: { label: number; probability: number }[] };
  serializeModel(): string;
  getLabels(): number[];
  /** 0-based indices of the support vectors in the training rows. */
  getSVIndices(): number[];
  free(): void;
  model: number | null;
}

export interface LibsvmClass {
  new (options: Record<string, unknown>): LibsvmInstance;
  load(serialized: string): LibsvmInstance;
  prototype: LibsvmInstance;
}

let libsvmPromise: Promise<LibsvmClass> | undefined;

/**
 * The wasm build of libsvm-js (one module instance per thread, shared by every model of that thread).
 * Node 20 has a global `fetch`, which makes the emscripten loader try (and fail, noisily) to stream the
 * .wasm file by URL before reading it from disk; in Node, fetch is hidden while the loader starts, which
 * skips that attempt. A browser keeps fetch: the loader
 * streams libsvm.wasm from the page's folder (src/serve/server.ts serves it there).
 */
export function loadLibsvm(): Promise<LibsvmClass> {
  if (!libsvmPromise) {
    const g = globalThis as { fetch?: unknown; process?: { versions?: { node?: string } } };
    if (g.process?.versions?.node !== undefined) {
      // Node: require(), since import() of a CommonJS module whose exports are a promise fails (the
      // namespace object inherits nothing, yet is awaited as a thenable). node:module is imported
      // dynamically so the browser build never loads it.
      libsvmPromise = import('node:module').then(({ createRequire }) => {
        const savedFetch = g.fetch;
        try {
          g.fetch = undefined;
          return createRequire(import.meta.url)('libsvm-js') as Promise<LibsvmClass>;
        } finally {
          g.fetch = savedFetch;
        }
      });
    } else {
      libsvmPromise = import('libsvm-js').then((m) => m.default as Promise<LibsvmClass>);
    }
  }
  return libsvmPromise;
}

// ---------------------------------------------------------------------------------------------------
// One-vs-one pairs

/** The pairs of a k-class problem, in libsvm's order, with the rows each one trains on. */
export interface OvoPlan {
  /** Labels in libsvm's order (first appearance). */
  labels: Int32Array;
  /** Rows of each class (libsvm order), each in original order. */
  classRows: Int32Array[];
  /** Pair p = (pairs[2p], pairs[2p+1]), i < j. */
  pairs: Int32Array;
}

export function planOvo(y: Int32Array): OvoPlan {
  const index = new Map<number, number>();
  const labels: number[] = [];
  const members: number[][] = [];
  for (let r = 0; r < y.length; r++) {
    let c = index.get(y[r]!);
    if (c === undefined) {
      c = labels.length;
      index.set(y[r]!, c);
      labels.push(y[r]!);
      members.push([]);
    }
    members[c]!.push(r);
  }
  const k = labels.length;
  const pairs: number[] = [];
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) pairs.push(i, j);
  return { labels: Int32Array.from(labels), classRows: members.map((m) => Int32Array.from(m)), pairs: Int32Array.from(pairs) };
}

/** What one pair's binary model contributes, as libsvm printed it. */
export interface PairResult {
  /** The model-file header up to (not including) nr_class: svm_type, kernel_type and the kernel's parameters. */
  head: string;
  rho: string;
  /** Support vectors as positions in the pair's problem (class i rows, then class j rows), ascending. */
  sv: Int32Array;
  /** Each SV's coefficient (alpha·y) as printed. */
  coef: string[];
  /** Each SV's feature list as printed ("1:0.5 2:… "), or null when the caller said it already has that row's. */
  features: (string | null)[];
  /** Wall-clock seconds libsvm took to train this pair (for progress reports; not part of the model). */
  seconds: number;
}

/**
 * Trains pair p with libsvm (one fresh instance, freed before returning). `known(row)` says whether the
 * caller already holds that row's printed features (to keep messages from workers small).
 */
export function trainPair(
  SVM: LibsvmClass,
  options: Record<string, number | boolean>,
  x: Matrix,
  plan: OvoPlan,
  p: number,
  known: (row: number) => boolean = () => false,
): PairResult {
  const ri = plan.classRows[plan.pairs[2 * p]!]!;
  const rj = plan.classRows[plan.pairs[2 * p + 1]!]!;
  const d = x.cols;
  const samples: Float32Array[] = [];
  const labels: number[] = [];
  for (const r of ri) {
    samples.push(x.data.subarray(r * d, (r + 1) * d));
    labels.push(1);
  }
  for (const r of rj) {
    samples.push(x.data.subarray(r * d, (r + 1) * d));
    labels.push(-1);
  }
  const t0 = performance.now();
  const svm = new SVM(options);
  let text: string;
  let indices: number[];
  try {
    svm.train(samples, labels);
    text = svm.serializeModel();
    indices = svm.getSVIndices();
  } finally {
    svm.free();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { ...parsePairModel(text, indices, (s) => (s < ri.length ? ri[s]! : rj[s - ri.length]!), known), seconds };
}

function parsePairModel(text: string, indices: number[], rowOf: (s: number) => number, known: (row: number) => boolean): Omit<PairResult, 'seconds'> {
  const bad = (why: string) => new Error(`svm: libsvm's model of a class pair is not as expected (${why}).`);
  const lines = text.split('\n');
  const at = lines.indexOf('SV');
  if (at < 0) throw bad('no SV line');
  const nrClassAt = lines.findIndex((l) => l.startsWith('nr_class '));
  if (nrClassAt < 0 || lines[nrClassAt] !== 'nr_class 2') throw bad('not a 2-class model');
  const rhoLine = lines.find((l) => l.startsWith('rho '));
  const labelLine = lines.find((l) => l.startsWith('label '));
  if (!rhoLine || labelLine !== 'label 1 -1') throw bad(`labels ${labelLine}`);
  const l = lines.length - at - 1 - (lines[lines.length - 1] === '' ? 1 : 0);
  if (l !== indices.length) throw bad(`${l} SV lines but ${indices.length} SV indices`);
  const sv = new Int32Array(l);
  const coef: string[] = new Array(l);
  const features: (string | null)[] = new Array(l);
  for (let t = 0; t < l; t++) {
    const line = lines[at + 1 + t]!;
    const sp = line.indexOf(' ');
    const s = indices[t]!; // getSVIndices is already 0-based
    if (t > 0 && s <= sv[t - 1]!) throw bad('SV indices not ascending');
    sv[t] = s;
    coef[t] = line.slice(0, sp);
    features[t] = known(rowOf(s)) ? null : line.slice(sp + 1);
  }
  return { head: lines.slice(0, nrClassAt).join('\n'), rho: rhoLine.slice(4), sv, coef, features };
}

/** Marks the rows whose printed features `result` carries (so later pairs can leave them out). */
export function markSent(plan: OvoPlan, p: number, result: PairResult, sent: Uint8Array): void {
  const ri = plan.classRows[plan.pairs[2 * p]!]!;
  const rj = plan.classRows[plan.pairs[2 * p + 1]!]!;
  for (let t = 0; t < result.sv.length; t++) {
    const s = result.sv[t]!;
    if (result.features[t] !== null) sent[s < ri.length ? ri[s]! : rj[s - ri.length]!] = 1;
  }
}

/**
 * The multi-class model text libsvm would write, from every pair's result (results[p] for pair p). Each row that
 * is a support vector somewhere must have its printed features in at least one result.
 */
export function assembleOvo(plan: OvoPlan, results: PairResult[]): string {
  const k = plan.labels.length;
  const nPairs = plan.pairs.length / 2;
  const pairOf = new Int32Array(k * k);
  for (let p = 0; p < nPairs; p++) {
    pairOf[plan.pairs[2 * p]! * k + plan.pairs[2 * p + 1]!] = p;
  }
  // Per pair, the coefficient of each row of the two classes that is one of its SVs.
  const rowFeatures = new Map<number, string>();
  const coefOf: Map<number, string>[] = results.map((res, p) => {
    const ri = plan.classRows[plan.pairs[2 * p]!]!;
    const rj = plan.classRows[plan.pairs[2 * p + 1]!]!;
    const m = new Map<number, string>();
    for (let t = 0; t < res.sv.length; t++) {
      const s = res.sv[t]!;
      const r = s < ri.length ? ri[s]! : rj[s - ri.length]!;
      m.set(r, res.coef[t]!);
      const f = res.features[t];
      if (f != null && !rowFeatures.has(r)) rowFeatures.set(r, f);
    }
    return m;
  });
  const nSV = new Int32Array(k);
  const body: string[] = [];
  for (let c = 0; c < k; c++) {
    for (const r of plan.classRows[c]!) {
      const cols: string[] = new Array(k - 1);
      let any = false;
      for (let m = 0; m < k - 1; m++) {
        const o = m < c ? m : m + 1;
        const p = c < o ? pairOf[c * k + o]! : pairOf[o * k + c]!;
        const v = coefOf[p]!.get(r);
        if (v !== undefined) any = true;
        // Not an SV of this pair: alpha 0 times y (+1 for the pair's first class, −1 for its second).
        cols[m] = v ?? (c < o ? '0' : '-0');
      }
      if (!any) continue;
      const f = rowFeatures.get(r);
      if (f === undefined) throw new Error(`svm: no printed features for support vector row ${r}.`);
      body.push(`${cols.join(' ')} ${f}`);
      nSV[c]!++;
    }
  }
  const head = [
    results[0]!.head,
    `nr_class ${k}`,
    `total_sv ${body.length}`,
    `rho ${results.map((r) => r.rho).join(' ')}`,
    `label ${Array.from(plan.labels).join(' ')}`,
    `nr_sv ${Array.from(nSV).join(' ')}`,
    'SV',
  ];
  return `${head.join('\n')}\n${body.join('\n')}\n`;
}
