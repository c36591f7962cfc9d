/**
 * The built-in models as ONNX nodes (issue 25 item 7, `digitbench export --onnx`), each computing what
 * the runtime's plugin computes (packages/runtime/src/models/): `label` as its predict gives it and
 * `scores` as its scores() gives them (raw, uncalibrated; columns: labels ascending).
 *
 * - Gaussian NB: the log joint probabilities in float64 as [x², x]·W + b (the runtime's Σ logC1 + (x−μ)²/c2
 *   expanded), first largest wins, softmax.
 * - k-NN: l2 and cosine by float64 distances ‖q‖² − 2q·xᵀ + ‖x‖², TopK (equal distances: lower row first)
 *   and the k neighbours' distances summed again exactly; l3 by a Scan over the query rows (Σ|q − x|³
 *   against every training row, TopK) and ∛ as Pow(s, 1/3) (within an ulp of Math.cbrt: only 1/distance
 *   votes see it); then the runtime's votes (uniform or 1/distance, exact matches alone), tie rule
 *   (nearest or smallest-label) and vote fractions.
 * - SVM: the kernel values and the pair decision values in float64, libsvm's vote (first most voted class
 *   in libsvm's order), and scikit-learn's one-vs-rest scores, or, for a model with Platt probabilities,
 *   libsvm's pairwise-coupled probabilities (its iteration as a Loop, each row's sums in the runtime's order).
 * - Decision tree and random forest: ai.onnx.ml TreeEnsembleRegressor (opset 3; one target per class,
 *   summed: the TreeEnsembleClassifier's scores change with two classes) with each threshold rounded up
 *   to float32, so x < t holds for the same float32 x as the runtime's float64 compare;
 *   the forest's votes, first most voted class (smallest label), and vote fractions; the tree's leaf
 *   class and the leaf's class fractions.
 * - CNN: the tfjs Sequential model's layers (Conv2D, MaxPooling2D, Flatten, Dense; Dropout omitted at
 *   inference) as Conv, MaxPool, Transpose + Flatten (tfjs flattens channels last), MatMul + Add and their
 *   activations, then Softmax; float32 as tfjs.
 */
import { GraphBuilder } from '@digitbench/runtime/internal';
import {
  decisionTreeModel,
  knnModel,
  naiveBayesModel,
  parseCnnBytes,
  parseKnnSaved,
  parseParams,
  randomForestModel,
  readSvm,
  svmModel,
  loadTrees,
  typedModel,
  type FlatTree,
  type GaussianNBModel,
  type BundleHeader,
  type LogitKind,
} from '@digitbench/runtime/internal';
import { cnn as cnnPlugin } from '@digitbench/runtime/cnn';
import { cast, f64, f64From32, i64, type Names, type Tensor } from './onnx-features.ts';

/** The model's part of the graph: outputs `label` (int64 [N]) and `scores` (float32 [N, classes]). */
export interface ModelNodes {
  /** The label's column among the classes (ascending labels), int64 [N]: where its confidence is. */
  column: string;
  /** How the scores become logits for the confidence when the bundle has no calibration (as logitKindOf finds them). */
  logits: LogitKind;
  /** What the scores are. */
  note: string;
  /** Extra opset imports (the tree ensembles' ai.onnx.ml). */
  opsets: Record<string, number>;
}

const ML = 'ai.onnx.ml';
/** The CNN's plugin name (its module loads tfjs only when a model is loaded). */
const CNN_PLUGIN = cnnPlugin.name;

type Ctx = { g: GraphBuilder; names: Names; header: BundleHeader; modelBytes: Uint8Array };

/** label = classes[index]: the class of each row's winning column. */
function labelOf({ g, names }: Ctx, index: string, classes: ArrayLike<number>): void {
  g.node('Gather', [i64(g, names, 'classes', classes, [classes.length]), index], ['label'], { axis: 0 });
  g.output('label', 'INT64', ['N']);
}

function scoresOut({ g }: Ctx, t: string, classes: number): void {
  g.node('Cast', [t], ['scores'], { to: 1 });
  g.output('scores', 'FLOAT', ['N', classes]);
}

/** The first largest column of each row (ArgMax keeps the first index of equal values). */
function argmax({ g, names }: Ctx, t: string): string {
  return g.node('ArgMax', [t], [names.next('argmax')], { axis: 1, keepdims: 0, select_last_index: 0 });
}

/** Names the plugins this exporter writes. */
export const EXPORTABLE = [knnModel.name, naiveBayesModel.name, svmModel.name, decisionTreeModel.name, randomForestModel.name, CNN_PLUGIN];

/** Appends the model's nodes after the features `x`; throws a one-line error for what it cannot write. */
export function modelNodes(ctx: Ctx, x: Tensor, image: readonly [number, number] | undefined): ModelNodes {
  const name = ctx.header.plugin.name;
  if (name === naiveBayesModel.name) return naiveBayes(ctx, x);
  if (name === knnModel.name) return knn(ctx, x);
  if (name === svmModel.name) return svm(ctx, x);
  if (name === decisionTreeModel.name || name === randomForestModel.name) return trees(ctx, x, name === decisionTreeModel.name);
  if (name === CNN_PLUGIN) return cnn(ctx, x, image);
  throw new Error(`export --onnx: the bundle's plugin "${name}" has no ONNX form; export a bundle of ${EXPORTABLE.join(', ')}.`);
}

function naiveBayes(ctx: Ctx, x: Tensor): ModelNodes {
  const { g, names } = ctx;
  const saved = JSON.parse(new TextDecoder().decode(ctx.modelBytes)) as { classes: number[]; features: number; model: GaussianNBModel };
  const t = typedModel(saved.model);
  const { classes: C, features: d } = t;
  if (d !== x.cols) throw new Error(`export --onnx: the Gaussian NB model takes ${d} features but the pipeline gives ${x.cols}; the bundle is damaged.`);
  // Σ_j logC1 + (x_j − μ)²/c2 = Σ_j x_j²/c2 − 2 x_j μ/c2 + (μ²/c2 + logC1).
  const w = new Float64Array(2 * d * C);
  const b = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = t.logPrior[c]!;
    for (let j = 0; j < d; j++) {
      const m = t.mean[c * d + j]!;
      const c2 = t.c2[c * d + j]!;
      w[j * C + c] = 1 / c2;
      w[(d + j) * C + c] = (-2 * m) / c2;
      s += t.logC1[c * d + j]! + (m * m) / c2;
    }
    b[c] = s;
  }
  const xd = cast(g, names, x, 'DOUBLE').name;
  const sq = g.node('Mul', [xd, xd], [names.next('x2')]);
  const both = g.node('Concat', [sq, xd], [names.next('x2_x')], { axis: 1 });
  const lj = g.node('Add', [g.node('MatMul', [both, f64(g, names, 'nb_w', w, [2 * d, C])], [names.next('nb_xw')]), f64(g, names, 'nb_b', b, [1, C])], [names.next('log_joint')]);
  const column = argmax(ctx, lj);
  labelOf(ctx, column, saved.classes);
  scoresOut(ctx, g.node('Softmax', [lj], [names.next('posterior')], { axis: 1 }), C);
  return { column, logits: 'probability', note: 'posterior probabilities', opsets: {} };
}

function knn(ctx: Ctx, x: Tensor): ModelNodes {
  const { g, names, header } = ctx;
  const params = parseParams(knnModel, header.plugin.params);
  const { x: train, y } = parseKnnSaved(ctx.modelBytes);
  if (train.cols !== x.cols) throw new Error(`export --onnx: the k-NN model takes ${train.cols} features but the pipeline gives ${x.cols}; the bundle is damaged.`);
  const { rows: n, cols: d } = train;
  const k = params.k;
  const classes = Int32Array.from(new Set(y)).sort();
  const classOf = Array.from(y, (v) => classes.indexOf(v));
  const C = classes.length;
  let q = cast(g, names, x, 'DOUBLE').name;
  if (params.metric === 'cosine') {
    // unitRows: float64 norm, rows rounded to float32, zero rows stay zero.
    const norm = g.node('Sqrt', [g.node('ReduceSumSquare', [q], [names.next('qq')], { axes: [1], keepdims: 1 })], [names.next('norm')]);
    const unit = g.node('Div', [q, norm], [names.next('unit')]);
    const pos = g.node('Greater', [norm, f64(g, names, 'zero', [0], [])], [names.next('nonzero')]);
    const kept = g.node('Where', [pos, unit, f64(g, names, 'zero', [0], [])], [names.next('unit_rows')]);
    q = g.node('Cast', [g.node('Cast', [kept], [names.next('unit_f32')], { to: 1 })], [names.next('unit_f64')], { to: 11 });
  }
  // The training rows as the bundle stores them (float32), used in float64.
  const rows = f64From32(g, names, 'training_rows', train.data, [n, d]);
  let neighbours: string;
  let dist: string;
  if (params.metric === 'l3') {
    // Σ |q − x|³ has no product form: a Scan over the query rows, each against every training row
    // (n × d values at a time), its k smallest sums (equal sums: lower row first), then ∛ as Pow(s, 1/3).
    const body = new GraphBuilder('cube-distances');
    const qRow = body.input(names.next('query_row'), 'DOUBLE', [d]);
    const a = body.node('Abs', [body.node('Sub', [rows, qRow], [names.next('row_diff')])], [names.next('row_abs')]);
    const cubes = body.node('Mul', [body.node('Mul', [a, a], [names.next('row_sq')]), a], [names.next('row_cubes')]);
    const sums = body.node('ReduceSum', [cubes, body.initializer(names.next('row_axis'), BigInt64Array.of(1n), [1])], [names.next('row_sums')], { keepdims: 0 });
    const [negTop, top] = [names.next('row_neg_top'), names.next('row_neighbours')];
    body.node('TopK', [body.node('Neg', [sums], [names.next('row_neg')]), body.initializer(names.next('row_k'), BigInt64Array.of(BigInt(k)), [1])], [negTop, top], { axis: 0, largest: 1, sorted: 1 });
    const topSums = body.node('Neg', [negTop], [names.next('row_top_sums')]);
    body.output(topSums, 'DOUBLE', [k]);
    body.output(top, 'INT64', [k]);
    const s = names.next('sums');
    neighbours = names.next('neighbours');
    g.node('Scan', [q], [s, neighbours], { body: { graph: body }, num_scan_inputs: 1 });
    dist = g.node('Pow', [s, f64(g, names, 'third', [1 / 3], [])], [names.next('dist')]);
  } else {
    const xx = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += train.data[i * d + j]! * train.data[i * d + j]!;
      xx[i] = s;
    }
    const qx = g.node('Gemm', [q, rows], [names.next('qx')], { transB: 1 });
    const qq = g.node('ReduceSumSquare', [q], [names.next('qq')], { axes: [1], keepdims: 1 });
    const d2 = g.node('Add', [g.node('Add', [g.node('Mul', [qx, f64(g, names, 'minus2', [-2], [])], [names.next('m2qx')]), qq], [names.next('part')]), f64(g, names, 'xx', xx, [1, n])], [names.next('d2')]);
    neighbours = names.next('neighbours');
    g.node('TopK', [g.node('Neg', [d2], [names.next('neg_d2')]), i64(g, names, 'k', [k], [1])], [names.next('neg_top'), neighbours], { axis: 1, largest: 1, sorted: 1 });
    // The k neighbours' squared distances summed again, Σ (q − x)², exactly 0 for an equal row.
    const nx = g.node('Gather', [rows, neighbours], [names.next('neighbour_rows')], { axis: 0 });
    const diff = g.node('Sub', [nx, g.node('Unsqueeze', [q, i64(g, names, 'axis1', [1], [1])], [names.next('q3')])], [names.next('diff')]);
    const s = g.node('ReduceSum', [g.node('Mul', [diff, diff], [names.next('diff2')]), i64(g, names, 'axis2', [2], [1])], [names.next('sums')], { keepdims: 0 });
    dist = g.node('Sqrt', [s], [names.next('dist')]);
    // cosine: 1 − cos = d² / 2 of the Euclidean distance d between unit rows.
    if (params.metric === 'cosine') dist = g.node('Mul', [g.node('Mul', [dist, dist], [names.next('dist2')]), f64(g, names, 'half', [0.5], [])], [names.next('cos_dist')]);
  }
  const cls = g.node('Gather', [i64(g, names, 'class_of', classOf, [n]), neighbours], [names.next('neighbour_class')], { axis: 0 });
  const onehot = g.node('Cast', [g.node('Equal', [g.node('Unsqueeze', [cls, i64(g, names, 'axis2', [2], [1])], [names.next('cls3')]), i64(g, names, 'class_range', Array.from({ length: C }, (_, c) => c), [1, 1, C])], [names.next('is_class')])], [names.next('onehot')], { to: 11 });
  let w: string | undefined;
  if (params.weights === 'distance') {
    // 1/distance; where the nearest is at distance 0, only the neighbours at 0 vote, 1 each.
    const zero = f64(g, names, 'zero', [0], []);
    const atZero = g.node('Equal', [dist, zero], [names.next('at_zero')]);
    const exact = g.node('Equal', [g.node('Slice', [dist, i64(g, names, 's0', [0], [1]), i64(g, names, 's1', [1], [1]), i64(g, names, 'axis1', [1], [1])], [names.next('nearest_dist')]), zero], [names.next('exact')]);
    const inv = g.node('Reciprocal', [dist], [names.next('inv_dist')]);
    w = g.node('Where', [exact, g.node('Cast', [atZero], [names.next('zero_votes')], { to: 11 }), inv], [names.next('weights')]);
  }
  const weighted = w ? g.node('Mul', [onehot, g.node('Unsqueeze', [w, i64(g, names, 'axis2', [2], [1])], [names.next('w3')])], [names.next('weighted')]) : onehot;
  const votes = g.node('ReduceSum', [weighted, i64(g, names, 'axis1', [1], [1])], [names.next('votes')], { keepdims: 0 });
  let win: string;
  if (params.ties === 'nearest') {
    // The class of the nearest neighbour whose class has the top vote.
    const top = g.node('ReduceMax', [votes], [names.next('top')], { axes: [1], keepdims: 1 });
    const nv = g.node('GatherElements', [votes, cls], [names.next('neighbour_votes')], { axis: 1 });
    const isTop = g.node('Cast', [g.node('Equal', [nv, top], [names.next('is_top')])], [names.next('is_top_f')], { to: 1 });
    const t = g.node('ArgMax', [isTop], [names.next('first_top')], { axis: 1, keepdims: 1, select_last_index: 0 });
    win = g.node('Squeeze', [g.node('GatherElements', [cls, t], [names.next('win2')], { axis: 1 }), i64(g, names, 'axis1', [1], [1])], [names.next('win')]);
  } else win = argmax(ctx, votes);
  labelOf(ctx, win, classes);
  const total = params.weights === 'distance' ? g.node('ReduceSum', [votes, i64(g, names, 'axis1', [1], [1])], [names.next('vote_sum')], { keepdims: 1 }) : f64(g, names, 'k_votes', [k], []);
  scoresOut(ctx, g.node('Div', [votes, total], [names.next('fractions')]), C);
  return { column: win, logits: 'probability', note: 'vote fractions of the k neighbours', opsets: {} };
}

function svm(ctx: Ctx, x: Tensor): ModelNodes {
  const { g, names } = ctx;
  const t = readSvm(ctx.modelBytes);
  const m = t.model;
  if (m.d !== x.cols) throw new Error(`export --onnx: the SVM takes ${m.d} features but the pipeline gives ${x.cols}; the bundle is damaged.`);
  const { l, d, nrClass: C } = m;
  const P = m.rho.length;
  const xd = cast(g, names, x, 'DOUBLE').name;
  const svt = new Float64Array(d * l);
  const ss = new Float64Array(l);
  for (let i = 0; i < l; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      svt[j * l + i] = m.sv[i * d + j]!;
      s += m.sv[i * d + j]! * m.sv[i * d + j]!;
    }
    ss[i] = s;
  }
  const dot = g.node('MatMul', [xd, f64(g, names, 'support_vectors_t', svt, [d, l])], [names.next('dot')]);
  let kv: string;
  if (m.kernel === 'rbf') {
    const xx = g.node('ReduceSumSquare', [xd], [names.next('xx')], { axes: [1], keepdims: 1 });
    const d2 = g.node('Add', [g.node('Add', [g.node('Mul', [dot, f64(g, names, 'minus2', [-2], [])], [names.next('m2dot')]), xx], [names.next('part')]), f64(g, names, 'ss', ss, [1, l])], [names.next('d2')]);
    const d2c = g.node('Max', [d2, f64(g, names, 'zero', [0], [])], [names.next('d2c')]);
    kv = g.node('Exp', [g.node('Mul', [d2c, f64(g, names, 'minus_gamma', [-m.gamma], [])], [names.next('gd2')])], [names.next('kernel')]);
  } else if (m.kernel === 'linear') kv = dot;
  else {
    const a = g.node('Add', [g.node('Mul', [dot, f64(g, names, 'gamma', [m.gamma], [])], [names.next('gdot')]), f64(g, names, 'coef0', [m.coef0], [])], [names.next('affine')]);
    kv = m.kernel === 'poly' ? g.node('Pow', [a, f64(g, names, 'degree', [m.degree], [])], [names.next('kernel')]) : g.node('Tanh', [a], [names.next('kernel')]);
  }
  // Pair p = (i, j): Σ class i's SVs' coef[j − 1] · K + Σ class j's SVs' coef[i] · K − rho.
  const w = new Float64Array(l * P);
  const win = new Float64Array(P * C);
  const lose = new Float64Array(P * C);
  const sign = new Float64Array(P * C);
  let p = 0;
  for (let i = 0; i < C; i++) {
    for (let j = i + 1; j < C; j++) {
      for (let s = m.start[i]!; s < m.start[i]! + m.nSV[i]!; s++) w[s * P + p] = m.coef[(j - 1) * l + s]!;
      for (let s = m.start[j]!; s < m.start[j]! + m.nSV[j]!; s++) w[s * P + p] = m.coef[i * l + s]!;
      win[p * C + i] = 1;
      lose[p * C + j] = 1;
      sign[p * C + i] = 1;
      sign[p * C + j] = -1;
      p++;
    }
  }
  const dec = g.node('Sub', [g.node('MatMul', [kv, f64(g, names, 'pair_coef', w, [l, P])], [names.next('pair_sums')]), f64(g, names, 'rho', m.rho, [1, P])], [names.next('decision')]);
  const pos = g.node('Cast', [g.node('Greater', [dec, f64(g, names, 'zero', [0], [])], [names.next('positive')])], [names.next('positive_f')], { to: 11 });
  const neg = g.node('Sub', [f64(g, names, 'one', [1], []), pos], [names.next('negative_f')]);
  const votes = g.node(
    'Add',
    [g.node('MatMul', [pos, f64(g, names, 'pair_first', win, [P, C])], [names.next('first_votes')]), g.node('MatMul', [neg, f64(g, names, 'pair_second', lose, [P, C])], [names.next('second_votes')])],
    [names.next('votes')],
  );
  const winner = argmax(ctx, votes);
  labelOf(ctx, winner, m.labels);
  const column = g.node('Gather', [i64(g, names, 'column_of', t.column, [C]), winner], [names.next('label_column')], { axis: 0 });
  const perm = new Array<number>(C);
  for (let c = 0; c < C; c++) perm[t.column[c]!] = c;
  if (m.probA && m.probB) {
    const prob = g.node('Concat', plattProbabilities(ctx, dec, m.probA, m.probB, C).map((pc) => g.node('Unsqueeze', [pc, i64(g, names, 'axis1', [1], [1])], [names.next('prob_col')])), [names.next('probabilities')], { axis: 1 });
    scoresOut(ctx, g.node('Gather', [prob, i64(g, names, 'ascending', perm, [C])], [names.next('prob_sorted')], { axis: 1 }), C);
    return { column, logits: 'probability', note: "libsvm's pairwise-coupled probabilities", opsets: {} };
  }
  // scikit-learn's one-vs-rest: votes + conf / (3·(|conf| + 1)), columns reordered to ascending labels.
  const conf = g.node('MatMul', [dec, f64(g, names, 'pair_sign', sign, [P, C])], [names.next('confidence')]);
  const denom = g.node('Mul', [g.node('Add', [g.node('Abs', [conf], [names.next('abs_conf')]), f64(g, names, 'one', [1], [])], [names.next('abs1')]), f64(g, names, 'three', [3], [])], [names.next('denom')]);
  const ovr = g.node('Add', [votes, g.node('Div', [conf, denom], [names.next('bounded')])], [names.next('ovr')]);
  scoresOut(ctx, g.node('Gather', [ovr, i64(g, names, 'ascending', perm, [C])], [names.next('ovr_sorted')], { axis: 1 }), C);
  return { column, logits: C > 2 ? 'ovr-votes' : 'decision', note: 'one-vs-rest decision values', opsets: {} };
}

/**
 * libsvm's svm_predict_probability as nodes, each row's arithmetic in the runtime's order (svm.ts
 * svmProbabilities): every per-row value is its own [N] float64 tensor and every sum is unrolled in the
 * loop order, so the numbers are the runtime's. Pairwise r from the clamped sigmoid of the decision
 * values; for more than two classes, multiclass_probability's iteration as a Loop (at most max(100, k)
 * passes) in which a row stops changing once its error is below 0.005 / k, as the runtime's loop breaks.
 * Returns each class's probability, libsvm's class order.
 */
function plattProbabilities(ctx: Ctx, dec: string, probA: Float64Array, probB: Float64Array, k: number): string[] {
  const { g, names } = ctx;
  const c = (v: number) => f64(g, names, 'c', [v], []);
  const r: string[][] = Array.from({ length: k }, () => new Array<string>(k));
  let p = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      const d = g.node('Gather', [dec, i64(g, names, 'pair', [p], [])], [names.next('dec_p')], { axis: 1 });
      const fApB = g.node('Add', [g.node('Mul', [d, c(probA[p]!)], [names.next('da')]), c(probB[p]!)], [names.next('fApB')]);
      const eNeg = g.node('Exp', [g.node('Neg', [fApB], [names.next('neg_fApB')])], [names.next('exp_neg')]);
      const ePos = g.node('Exp', [fApB], [names.next('exp_pos')]);
      const one = c(1);
      const upper = g.node('Div', [eNeg, g.node('Add', [one, eNeg], [names.next('one_plus')])], [names.next('sig_hi')]);
      const lower = g.node('Div', [one, g.node('Add', [one, ePos], [names.next('one_plus')])], [names.next('sig_lo')]);
      const sig = g.node('Where', [g.node('GreaterOrEqual', [fApB, c(0)], [names.next('nonneg')]), upper, lower], [names.next('sigmoid')]);
      const v = g.node('Min', [g.node('Max', [sig, c(1e-7)], [names.next('clamp_lo')]), c(1 - 1e-7)], [names.next('r_ij')]);
      r[i]![j] = v;
      r[j]![i] = g.node('Sub', [one, v], [names.next('r_ji')]);
      p++;
    }
  }
  if (k === 2) return [r[0]![1]!, r[1]![0]!];
  // Q[t][t] = Σ_{j≠t} r[j][t]² (ascending j), Q[t][j] = −r[j][t]·r[t][j].
  const Q: string[][] = Array.from({ length: k }, () => new Array<string>(k));
  for (let t = 0; t < k; t++) {
    let qtt: string | undefined;
    for (let j = 0; j < k; j++) {
      if (j === t) continue;
      const sq = g.node('Mul', [r[j]![t]!, r[j]![t]!], [names.next('r2')]);
      qtt = qtt === undefined ? sq : g.node('Add', [qtt, sq], [names.next('qtt')]);
      Q[t]![j] = g.node('Neg', [g.node('Mul', [r[j]![t]!, r[t]![j]!], [names.next('rr')])], [names.next('q_tj')]);
    }
    Q[t]![t] = qtt!;
  }
  const body = new GraphBuilder('pairwise-coupling');
  const b = (type: string, inputs: string[], base: string) => body.node(type, inputs, [names.next(base)]);
  const bc = (v: number) => body.initializer(names.next('bc'), Float64Array.of(v), []);
  body.input(names.next('iteration'), 'INT64', []);
  body.input(names.next('cond_in'), 'BOOL', []);
  const pIn = Array.from({ length: k }, () => body.input(names.next('p_in'), 'DOUBLE', ['N']));
  const doneIn = body.input(names.next('done_in'), 'BOOL', ['N']);
  // Qp[t] = Σ_j Q[t][j]·p[j]; pQp = Σ_t p[t]·Qp[t] (both in ascending order).
  const Qp: string[] = [];
  let pQp: string | undefined;
  for (let t = 0; t < k; t++) {
    let qp: string | undefined;
    for (let j = 0; j < k; j++) {
      const term = b('Mul', [Q[t]![j]!, pIn[j]!], 'qp_term');
      qp = qp === undefined ? term : b('Add', [qp, term], 'qp');
    }
    Qp.push(qp!);
    const term = b('Mul', [pIn[t]!, qp!], 'pqp_term');
    pQp = pQp === undefined ? term : b('Add', [pQp, term], 'pqp');
  }
  let maxError: string | undefined;
  for (let t = 0; t < k; t++) {
    const e = b('Abs', [b('Sub', [Qp[t]!, pQp!], 'err')], 'abs_err');
    maxError = maxError === undefined ? e : b('Max', [maxError, e], 'max_err');
  }
  const done = b('Or', [doneIn, b('Less', [maxError!, bc(0.005 / k)], 'converged')], 'done');
  // One pass of updates, as the runtime's loop over t.
  const P = [...pIn];
  const QpNow = [...Qp];
  let pqp = pQp!;
  const one = bc(1);
  const two = bc(2);
  for (let t = 0; t < k; t++) {
    const diff = b('Div', [b('Add', [b('Neg', [QpNow[t]!], 'neg_qp'), pqp], 'num'), Q[t]![t]!], 'diff');
    P[t] = b('Add', [P[t]!, diff], 'p_plus');
    const onePlus = b('Add', [one, diff], 'one_plus_diff');
    const inner = b('Add', [b('Mul', [diff, Q[t]![t]!], 'diff_qtt'), b('Mul', [two, QpNow[t]!], 'two_qp')], 'inner');
    pqp = b('Div', [b('Div', [b('Add', [pqp, b('Mul', [diff, inner], 'diff_inner')], 'pqp_num'), onePlus], 'pqp_1'), onePlus], 'pqp_2');
    for (let j = 0; j < k; j++) {
      QpNow[j] = b('Div', [b('Add', [QpNow[j]!, b('Mul', [diff, Q[t]![j]!], 'diff_q')], 'qp_num'), onePlus], 'qp_new');
      P[j] = b('Div', [P[j]!, onePlus], 'p_new');
    }
  }
  const pOut = P.map((pt, t) => b('Where', [done, pIn[t]!, pt], 'p_out'));
  const doneI = body.node('Cast', [done], [names.next('done_i32')], { to: 6 });
  const allDone = body.node('ReduceMin', [doneI], [names.next('all_done')], { keepdims: 0 });
  const active = b('Not', [body.node('Cast', [allDone], [names.next('all_done_b')], { to: 9 })], 'active');
  body.output(active, 'BOOL', []);
  for (const pt of pOut) body.output(pt, 'DOUBLE', ['N']);
  body.output(done, 'BOOL', ['N']);
  const rows = g.node('Shape', [dec], [names.next('dec_shape')], { end: 1 });
  const start = g.node('Expand', [c(1 / k), rows], [names.next('p0')]);
  const notDone = g.node('Expand', [g.initializer(names.next('false'), BigInt64Array.of(0n), []), rows], [names.next('not_done_i64')]);
  const doneStart = g.node('Cast', [notDone], [names.next('not_done')], { to: 9 });
  const outs = Array.from({ length: k }, () => names.next('p_final'));
  g.node('Loop', [i64(g, names, 'max_iter', [Math.max(100, k)], []), g.node('Cast', [i64(g, names, 'true', [1], [])], [names.next('cond0')], { to: 9 }), ...Array.from({ length: k }, () => start), doneStart], [...outs, names.next('done_final')], {
    body: { graph: body },
  });
  return outs;
}

/** The smallest float32 ≥ t: for a float32 x, x < t exactly when x < this. */
function float32Ceil(t: number): number {
  const f = Math.fround(t);
  if (f >= t || !Number.isFinite(f)) return f;
  const b = new Float32Array([f]);
  const u = new Int32Array(b.buffer);
  if (f === 0) return 1.401298464324817e-45; // t > 0 here: the smallest positive float32
  u[0]! += f > 0 ? 1 : -1;
  return b[0]!;
}

function treeEnsemble(ctx: Ctx, x: string, trees: FlatTree[], C: number, leafWeights: (tree: FlatTree, node: number) => [number, number][], out: string): string {
  const a = {
    nodes_treeids: [] as number[],
    nodes_nodeids: [] as number[],
    nodes_featureids: [] as number[],
    nodes_modes: [] as string[],
    nodes_values: [] as number[],
    nodes_truenodeids: [] as number[],
    nodes_falsenodeids: [] as number[],
    class_treeids: [] as number[],
    class_nodeids: [] as number[],
    class_ids: [] as number[],
    class_weights: [] as number[],
  };
  trees.forEach((tree, ti) => {
    for (let i = 0; i < tree.feature.length; i++) {
      const f = tree.feature[i]!;
      a.nodes_treeids.push(ti);
      a.nodes_nodeids.push(i);
      a.nodes_featureids.push(f >= 0 ? f : 0);
      a.nodes_modes.push(f >= 0 ? 'BRANCH_LT' : 'LEAF');
      a.nodes_values.push(f >= 0 ? float32Ceil(tree.threshold[i]!) : 0);
      a.nodes_truenodeids.push(f >= 0 ? i + 1 : 0);
      a.nodes_falsenodeids.push(f >= 0 ? tree.child[i]! : 0);
      if (f < 0) {
        for (const [c, wt] of leafWeights(tree, i)) {
          a.class_treeids.push(ti);
          a.class_nodeids.push(i);
          a.class_ids.push(c);
          a.class_weights.push(wt);
        }
      }
    }
  });
  const { g, names } = ctx;
  // TreeEnsembleRegressor with one target per class, summed over the trees: the classifier's own scores
  // change in the two-class case (onnxruntime reads them as a binary classifier's).
  g.node(
    'TreeEnsembleRegressor',
    [x],
    [out],
    {
      nodes_treeids: a.nodes_treeids,
      nodes_nodeids: a.nodes_nodeids,
      nodes_featureids: a.nodes_featureids,
      nodes_modes: { strings: a.nodes_modes },
      nodes_values: { floats: a.nodes_values },
      nodes_truenodeids: a.nodes_truenodeids,
      nodes_falsenodeids: a.nodes_falsenodeids,
      target_treeids: a.class_treeids,
      target_nodeids: a.class_nodeids,
      target_ids: a.class_ids,
      target_weights: { floats: a.class_weights },
      n_targets: C,
      aggregate_function: 'SUM',
      post_transform: 'NONE',
    },
    ML,
  );
  return out;
}

function trees(ctx: Ctx, x: Tensor, single: boolean): ModelNodes {
  const { g, names } = ctx;
  const who = single ? decisionTreeModel.name : randomForestModel.name;
  const { header, trees: list } = loadTrees(ctx.modelBytes, who, who);
  if (header.nFeatures !== x.cols) throw new Error(`export --onnx: the ${who} model takes ${header.nFeatures} features but the pipeline gives ${x.cols}; the bundle is damaged.`);
  const C = header.classes.length;
  const xf = cast(g, names, x, 'FLOAT').name;
  const votes = treeEnsemble(ctx, xf, list, C, (t, i) => [[t.child[i]!, 1]], names.next('votes'));
  const column = argmax(ctx, votes);
  labelOf(ctx, column, header.classes);
  if (single) {
    const proba = list[0]!.proba!;
    const fractions = treeEnsemble(ctx, xf, list, C, (_t, i) => Array.from({ length: C }, (_, c) => [c, proba[i * C + c]!] as [number, number]), names.next('leaf_fractions'));
    scoresOut(ctx, fractions, C);
    return { column, logits: 'probability', note: 'class fractions of the leaf reached', opsets: { [ML]: 3 } };
  }
  // votes / trees in float64, rounded once, as the runtime's tally.
  const fr = g.node('Div', [g.node('Cast', [votes], [names.next('votes_f64')], { to: 11 }), f64(g, names, 'trees', [list.length], [])], [names.next('vote_fractions')]);
  scoresOut(ctx, fr, C);
  return { column, logits: 'probability', note: 'fractions of trees voting for each class', opsets: { [ML]: 3 } };
}

interface KerasLayer {
  class_name: string;
  config: Record<string, unknown>;
}

function cnn(ctx: Ctx, x: Tensor, image: readonly [number, number] | undefined): ModelNodes {
  const { g, names } = ctx;
  if (!image) throw new Error('export --onnx: the CNN needs images but the pipeline turns them into vectors; the bundle is damaged.');
  const { header, weightData } = parseCnnBytes(ctx.modelBytes, { imageShape: image });
  const topo = header.modelTopology as { class_name?: string; config?: { layers?: KerasLayer[] } | KerasLayer[]; model_config?: unknown };
  const layers = (Array.isArray(topo?.config) ? topo.config : topo?.config?.layers) as KerasLayer[] | undefined;
  if (topo?.class_name !== 'Sequential' || !Array.isArray(layers)) throw new Error('export --onnx: the CNN is not a tfjs Sequential model; this exporter reads only those.');
  const specs = header.weightSpecs as { name: string; shape: number[]; dtype: string }[];
  const weights = new Float32Array(weightData);
  let at = 0;
  let spec = 0;
  const take = (suffix: string): { data: Float32Array; shape: number[] } => {
    const s = specs[spec++];
    if (!s || s.dtype !== 'float32' || !s.name.endsWith(suffix)) throw new Error(`export --onnx: the CNN's weight ${spec - 1} is not the ${suffix} expected; the bundle is damaged.`);
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = weights.subarray(at, at + n);
    at += n;
    return { data, shape: s.shape };
  };
  const [h0, w0] = image;
  let t = g.node('Reshape', [x.name, i64(g, names, 'nchw', [-1, 1, h0, w0], [4])], [names.next('images')]);
  let [h, w, ch] = [h0, w0, 1];
  let flat = false;
  const activation = (v: string, act: unknown, where: string): string => {
    if (act === undefined || act === null || act === 'linear') return v;
    if (act === 'relu') return g.node('Relu', [v], [names.next('relu')]);
    if (act === 'tanh') return g.node('Tanh', [v], [names.next('tanh')]);
    if (act === 'sigmoid') return g.node('Sigmoid', [v], [names.next('sigmoid')]);
    if (act === 'softmax') return g.node('Softmax', [v], [names.next('softmax')], { axis: 1 });
    throw new Error(`export --onnx: the CNN's ${where} has activation ${String(act)}, which has no ONNX form here yet; export another bundle.`);
  };
  const pair = (v: unknown, fallback: [number, number]): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : typeof v === 'number' ? [v, v] : fallback);
  /** tfjs's padding: 'valid' none; 'same' out = ceil(in / stride), the extra row/column at the end. */
  const pads = (padding: unknown, [kh, kw]: [number, number], [sh, sw]: [number, number]): number[] => {
    if (padding !== 'same') return [0, 0, 0, 0];
    const total = (n: number, k: number, s: number) => Math.max((Math.ceil(n / s) - 1) * s + k - n, 0);
    const th = total(h, kh, sh);
    const tw = total(w, kw, sw);
    return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
  };
  const out = (n: number, k: number, s: number, p: number) => Math.floor((n + p - k) / s) + 1;
  for (const [li, layer] of layers.entries()) {
    const c = layer.config;
    const where = `layer ${li} (${layer.class_name})`;
    if (c.data_format !== undefined && c.data_format !== 'channels_last') throw new Error(`export --onnx: the CNN's ${where} is not channels_last; export another bundle.`);
    switch (layer.class_name) {
      case 'Conv2D': {
        if (flat) throw new Error(`export --onnx: the CNN's ${where} comes after Flatten; the bundle is damaged.`);
        const k = pair(c.kernel_size, [1, 1]);
        const s = pair(c.strides, [1, 1]);
        const dil = pair(c.dilation_rate, [1, 1]);
        if (dil[0] !== 1 || dil[1] !== 1) throw new Error(`export --onnx: the CNN's ${where} is dilated, which has no ONNX form here yet; export another bundle.`);
        const kernel = take('/kernel');
        const [kh, kw, cin, cout] = kernel.shape as [number, number, number, number];
        if (cin !== ch || kh !== k[0] || kw !== k[1]) throw new Error(`export --onnx: the CNN's ${where} kernel is ${kernel.shape.join('×')}, not ${k.join('×')}×${ch}×…; the bundle is damaged.`);
        // tfjs [kh, kw, in, out] → ONNX [out, in, kh, kw].
        const wOnnx = new Float32Array(kernel.data.length);
        for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) wOnnx[((o * cin + i) * kh + a) * kw + b] = kernel.data[((a * kw + b) * cin + i) * cout + o]!;
        const p = pads(c.padding, k, s);
        const inputs = [t, g.initializer(names.next('conv_w'), wOnnx, [cout, cin, kh, kw])];
        if (c.use_bias !== false) inputs.push(g.initializer(names.next('conv_b'), Float32Array.from(take('/bias').data), [cout]));
        t = activation(g.node('Conv', inputs, [names.next('conv')], { kernel_shape: k, strides: s, pads: p }), c.activation, where);
        [h, w, ch] = [out(h, k[0], s[0], p[0]! + p[2]!), out(w, k[1], s[1], p[1]! + p[3]!), cout];
        break;
      }
      case 'MaxPooling2D': {
        const k = pair(c.pool_size, [2, 2]);
        const s = pair(c.strides, k);
        const p = pads(c.padding, k, s);
        if (p.some((v) => v > 0)) throw new Error(`export --onnx: the CNN's ${where} pads ('same'), which has no ONNX form here yet; export another bundle.`);
        t = g.node('MaxPool', [t], [names.next('pool')], { kernel_shape: k, strides: s });
        [h, w] = [out(h, k[0], s[0], 0), out(w, k[1], s[1], 0)];
        break;
      }
      case 'Dropout':
        break; // inference: identity
      case 'Flatten':
        // tfjs flattens NHWC: channels last.
        t = g.node('Flatten', [g.node('Transpose', [t], [names.next('nhwc')], { perm: [0, 2, 3, 1] })], [names.next('flat')], { axis: 1 });
        flat = true;
        ch = h * w * ch;
        break;
      case 'Dense': {
        if (!flat) throw new Error(`export --onnx: the CNN's ${where} takes images; only Dense after Flatten has an ONNX form here.`);
        const kernel = take('/kernel');
        const [nin, units] = kernel.shape as [number, number];
        if (nin !== ch) throw new Error(`export --onnx: the CNN's ${where} takes ${nin} values but gets ${ch}; the bundle is damaged.`);
        t = g.node('MatMul', [t, g.initializer(names.next('dense_w'), Float32Array.from(kernel.data), [nin, units])], [names.next('dense')]);
        if (c.use_bias !== false) t = g.node('Add', [t, g.initializer(names.next('dense_b'), Float32Array.from(take('/bias').data), [units])], [names.next('dense_b')]);
        t = activation(t, c.activation, where);
        ch = units;
        break;
      }
      default:
        throw new Error(`export --onnx: the CNN's ${where} has no ONNX form here yet; export another bundle.`);
    }
  }
  if (spec !== specs.length) throw new Error(`export --onnx: the CNN has ${specs.length} weight tensors but its layers use ${spec}; the bundle is damaged.`);
  const probs = g.node('Softmax', [t], [names.next('probabilities')], { axis: 1 });
  const column = argmax(ctx, probs);
  labelOf(ctx, column, header.classes);
  g.node('Identity', [probs], ['scores']);
  g.output('scores', 'FLOAT', ['N', header.classes.length]);
  return { column, logits: 'probability', note: 'softmax probabilities', opsets: {} };
}
