/**
 * A bundle's fitted feature pipeline as ONNX nodes (issue 25 item 7, `digitbench export --onnx`). Each
 * step computes as the runtime's transform does (packages/runtime/src/features/): in float64 on the
 * float32 values of the step before, then rounded once to float32 (Cast), so the graph's features are the
 * runtime's but for the order of the float64 sums. Linear steps only: scale (Mul), standardize (Sub, Mul),
 * drop-constant (Gather), pca (MatMul, Sub; whitening folded into the components), downsample and blur
 * (MatMul with the step's fixed h·w × h'·w' matrix); deskew (moments, then the bilinear resample as
 * four GatherElements) and hog (gradients by a fixed matrix, the orientation bin from cross products with
 * the bin edges, per-cell sums by MatMul, L2-Hys blocks), both in float64. What cannot be written (a step
 * this file does not know, blur or hog on images over MAX_MATRIX_PIXELS) is refused in one line naming
 * the step.
 */
import { DataType, type Attribute, type GraphBuilder } from '@digitbench/runtime/internal';
import {
  gaussianKernel,
  pcaModelFromState,
  pipelineShapes,
  stateArray,
  stateInt,
  type ImageShape,
  type StepSpec,
  type StepState,
} from '@digitbench/runtime/internal';

/** A tensor of the graph being built: its name, element type and columns per row. */
export interface Tensor {
  name: string;
  type: 'FLOAT' | 'DOUBLE';
  cols: number;
}

/** Names unique within a graph. */
export class Names {
  private n = 0;
  next(base: string): string {
    return `${base}_${this.n++}`;
  }
}

export function cast(g: GraphBuilder, names: Names, t: Tensor, to: 'FLOAT' | 'DOUBLE'): Tensor {
  if (t.type === to) return t;
  return { name: g.node('Cast', [t.name], [names.next(to === 'FLOAT' ? 'f32' : 'f64')], { to: DataType[to] }), type: to, cols: t.cols };
}

/** A float64 constant. */
export function f64(g: GraphBuilder, names: Names, base: string, data: ArrayLike<number>, dims: readonly number[]): string {
  return g.initializer(names.next(base), Float64Array.from(data), dims);
}

/**
 * A float64 constant whose values are all float32 values (training rows, ±1 matrices): stored as float32
 * (half the file) and cast to float64 in the graph, which onnxruntime folds once when the session starts.
 */
export function f64From32(g: GraphBuilder, names: Names, base: string, data: Float32Array, dims: readonly number[]): string {
  return g.node('Cast', [g.initializer(names.next(`${base}_f32`), data, dims)], [names.next(base)], { to: DataType.DOUBLE });
}

export function i64(g: GraphBuilder, names: Names, base: string, data: ArrayLike<number>, dims: readonly number[]): string {
  return g.initializer(names.next(base), BigInt64Array.from(Array.from(data, (v) => BigInt(v))), dims);
}

/** The one-line refusal of a step without an ONNX form. */
export function unsupportedStep(step: string, why = ''): Error {
  return new Error(`export --onnx: step ${step}${why} has no ONNX form yet; export a bundle without it.`);
}

/**
 * The most pixels per image for the steps written as a fixed h·w × h·w float64 matrix (blur, and hog's
 * gradients): 64×64, a 128 MB matrix. MNIST's 28×28 needs 4.9 MB.
 */
export const MAX_MATRIX_PIXELS = 4096;

/** The steps this exporter writes (the runtime's eight built-in steps). */
const WRITTEN = new Set(['scale', 'standardize', 'drop-constant', 'pca', 'downsample', 'blur', 'deskew', 'hog']);

/** Refuses, before anything is built, a pipeline with a step this exporter cannot write, naming the step. */
export function checkSteps(specs: readonly StepSpec[], inputImage: readonly [number, number]): void {
  const shapes = pipelineShapes(specs, inputImage);
  specs.forEach((spec, i) => {
    if (!WRITTEN.has(spec.step)) throw unsupportedStep(spec.step);
    const image = i === 0 ? inputImage : shapes[i - 1]!.image;
    if ((spec.step === 'blur' || spec.step === 'hog') && image && image[0] * image[1] > MAX_MATRIX_PIXELS) {
      const [h, w] = image;
      throw unsupportedStep(spec.step, ` on ${h}×${w} images (over ${MAX_MATRIX_PIXELS.toLocaleString('en-US')} pixels: its ${(h * w).toLocaleString('en-US')}² float64 matrix would take ${Math.round((h * w) ** 2 * 8 / 1e6).toLocaleString('en-US')} MB)`);
    }
  });
}

/**
 * Appends the pipeline's steps to `g` after `input` (float32 raw pixels, h·w columns); returns the
 * features as float32, as the runtime's pipeline gives them to the model.
 */
export function pipelineNodes(g: GraphBuilder, names: Names, input: Tensor, specs: readonly StepSpec[], states: readonly StepState[], inputImage: readonly [number, number]): Tensor {
  checkSteps(specs, inputImage);
  const shapes = pipelineShapes(specs, inputImage);
  let x = input;
  specs.forEach((spec, i) => {
    const image: ImageShape = i === 0 ? inputImage : shapes[i - 1]!.image;
    const state = states[i]!;
    const d = cast(g, names, x, 'DOUBLE');
    let out: Tensor;
    switch (spec.step) {
      case 'scale':
        out = { name: g.node('Mul', [d.name, f64(g, names, 'scale', [1 / spec.max], [])], [names.next('scaled')]), type: 'DOUBLE', cols: d.cols };
        break;
      case 'standardize': {
        const mean = stateArray('standardize', state, 'mean', Float64Array, d.cols);
        const inv = stateArray('standardize', state, 'inv', Float64Array, d.cols);
        const centred = g.node('Sub', [d.name, f64(g, names, 'mean', mean, [1, d.cols])], [names.next('centred')]);
        out = { name: g.node('Mul', [centred, f64(g, names, 'inv', inv, [1, d.cols])], [names.next('standardized')]), type: 'DOUBLE', cols: d.cols };
        break;
      }
      case 'drop-constant': {
        const cols = stateInt('drop-constant', state, 'cols');
        const keep = stateArray('drop-constant', state, 'keep', Int32Array);
        if (cols !== x.cols) throw new Error(`export --onnx: step drop-constant was fitted on ${cols} features but gets ${x.cols}; the bundle is damaged.`);
        // Exact: no arithmetic, so on the float32 values as they are.
        out = { name: g.node('Gather', [x.name, i64(g, names, 'keep', keep, [keep.length])], [names.next('kept')], { axis: 1 }), type: x.type, cols: keep.length };
        break;
      }
      case 'pca': {
        const m = pcaModelFromState(state, spec.components);
        if (m.d !== d.cols) throw new Error(`export --onnx: step pca was fitted on ${m.d} features but gets ${d.cols}; the bundle is damaged.`);
        // As pcaProjection: components scaled for whitening, then X·Cᵀ − μ·Cᵀ.
        const cT = new Float64Array(m.d * m.k);
        for (let c = 0; c < m.k; c++) {
          const v = m.explainedVariance[c]!;
          const f = spec.whiten && v > 0 ? 1 / Math.sqrt(v) : 1;
          for (let j = 0; j < m.d; j++) cT[j * m.k + c] = m.components[c * m.d + j]! * f;
        }
        const muC = new Float64Array(m.k);
        for (let j = 0; j < m.d; j++) for (let c = 0; c < m.k; c++) muC[c]! += m.mean[j]! * cT[j * m.k + c]!;
        const xc = g.node('MatMul', [d.name, f64(g, names, 'components', cT, [m.d, m.k])], [names.next('projected')]);
        out = { name: g.node('Sub', [xc, f64(g, names, 'mean_projected', muC, [1, m.k])], [names.next('pca')]), type: 'DOUBLE', cols: m.k };
        break;
      }
      case 'downsample': {
        const [h, w] = image!;
        const f = spec.factor;
        const [oh, ow] = [h / f, w / f];
        const p = new Float32Array(h * w * oh * ow);
        for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) p[(r * w + c) * oh * ow + Math.floor(r / f) * ow + Math.floor(c / f)] = 1;
        const sums = g.node('MatMul', [d.name, f64From32(g, names, 'blocks', p, [h * w, oh * ow])], [names.next('block_sums')]);
        out = { name: g.node('Mul', [sums, f64(g, names, 'block_norm', [1 / (f * f)], [])], [names.next('downsampled')]), type: 'DOUBLE', cols: oh * ow };
        break;
      }
      case 'blur': {
        const [h, w] = image!;
        const k = gaussianKernel(spec.sigma);
        const r = (k.length - 1) / 2;
        // out[y, x] = Σ_rows Σ_cols k[row − y] · k[col − x] · src[row, col], zero outside (blurImage's two passes as one matrix).
        const b = new Float64Array(h * w * h * w);
        for (let y = 0; y < h; y++) {
          for (let xo = 0; xo < w; xo++) {
            for (let row = Math.max(0, y - r); row <= Math.min(h - 1, y + r); row++) {
              for (let col = Math.max(0, xo - r); col <= Math.min(w - 1, xo + r); col++) b[(row * w + col) * h * w + y * w + xo] = k[row - y + r]! * k[col - xo + r]!;
            }
          }
        }
        out = { name: g.node('MatMul', [d.name, f64(g, names, 'blur', b, [h * w, h * w])], [names.next('blurred')]), type: 'DOUBLE', cols: h * w };
        break;
      }
      case 'deskew':
        out = deskewNodes(g, names, d, image!);
        break;
      case 'hog':
        out = hogNodes(g, names, d, image!, spec);
        break;
      default:
        throw unsupportedStep((spec as StepSpec).step);
    }
    // The runtime stores every step's output as float32.
    x = cast(g, names, out, 'FLOAT');
  });
  return x;
}

/** A node with a fresh output name. */
function op(g: GraphBuilder, names: Names, type: string, inputs: string[], attributes: Record<string, Attribute> = {}): string {
  return g.node(type, inputs, [names.next(type.toLowerCase())], attributes);
}

/**
 * deskewImage as nodes, in float64: the intensity-weighted centre (mr, mc) and moments vr = Σ(r − mr)²p,
 * crc = Σ(r − mr)(c − mc)p, α = crc / vr (0 when vr = 0); output pixel (r, c) samples the input bilinearly
 * at (r − h/2 + mr, c + α(r − h/2) + mc − w/2), zero outside; an all-zero image is copied.
 */
function deskewNodes(g: GraphBuilder, names: Names, x: Tensor, [h, w]: readonly [number, number]): Tensor {
  const n = h * w;
  const rowOf = Float64Array.from({ length: n }, (_, i) => Math.floor(i / w));
  const colOf = Float64Array.from({ length: n }, (_, i) => i % w);
  const R = f64(g, names, 'row_of', rowOf, [1, n]);
  const Cc = f64(g, names, 'col_of', colOf, [1, n]);
  const sum = (t: string) => op(g, names, 'ReduceSum', [t, i64(g, names, 'axis1', [1], [1])], { keepdims: 1 });
  const zero = f64(g, names, 'zero', [0], []);
  const total = sum(x.name);
  const some = op(g, names, 'Greater', [total, zero]);
  const mr = op(g, names, 'Div', [sum(op(g, names, 'Mul', [R, x.name])), total]);
  const mc = op(g, names, 'Div', [sum(op(g, names, 'Mul', [Cc, x.name])), total]);
  const dr = op(g, names, 'Sub', [R, mr]);
  const dc = op(g, names, 'Sub', [Cc, mc]);
  const vr = sum(op(g, names, 'Mul', [op(g, names, 'Mul', [dr, dr]), x.name]));
  const crc = sum(op(g, names, 'Mul', [op(g, names, 'Mul', [dr, dc]), x.name]));
  const alpha = op(g, names, 'Where', [op(g, names, 'Greater', [vr, zero]), op(g, names, 'Div', [crc, vr]), zero]);
  // Per output pixel: rin = r − or + mr, cin = c + α(r − or) + mc − oc.
  const ro = f64(g, names, 'row_minus_centre', Float64Array.from(rowOf, (r) => r - h / 2), [1, n]);
  const rin = op(g, names, 'Add', [ro, mr]);
  const shift = op(g, names, 'Sub', [op(g, names, 'Add', [op(g, names, 'Mul', [alpha, ro]), mc]), f64(g, names, 'col_centre', [w / 2], [])]);
  const cin = op(g, names, 'Add', [Cc, shift]);
  const r0 = op(g, names, 'Floor', [rin]);
  const c0 = op(g, names, 'Floor', [cin]);
  const fr = op(g, names, 'Sub', [rin, r0]);
  const fc = op(g, names, 'Sub', [cin, c0]);
  const one = f64(g, names, 'one', [1], []);
  /** The input at (r, c) per output pixel, 0 outside the image. */
  const at = (r: string, c: string): string => {
    const inside = op(g, names, 'And', [
      op(g, names, 'And', [op(g, names, 'GreaterOrEqual', [r, zero]), op(g, names, 'LessOrEqual', [r, f64(g, names, 'last_row', [h - 1], [])])]),
      op(g, names, 'And', [op(g, names, 'GreaterOrEqual', [c, zero]), op(g, names, 'LessOrEqual', [c, f64(g, names, 'last_col', [w - 1], [])])]),
    ]);
    const rc = op(g, names, 'Clip', [r, zero, f64(g, names, 'last_row', [h - 1], [])]);
    const cc = op(g, names, 'Clip', [c, zero, f64(g, names, 'last_col', [w - 1], [])]);
    const idx = op(g, names, 'Cast', [op(g, names, 'Add', [op(g, names, 'Mul', [rc, f64(g, names, 'width', [w], [])]), cc])], { to: DataType.INT64 });
    return op(g, names, 'Where', [inside, op(g, names, 'GatherElements', [x.name, idx], { axis: 1 }), zero]);
  };
  const r1 = op(g, names, 'Add', [r0, one]);
  const c1 = op(g, names, 'Add', [c0, one]);
  const gr = op(g, names, 'Sub', [one, fr]);
  const gc = op(g, names, 'Sub', [one, fc]);
  const top = op(g, names, 'Add', [op(g, names, 'Mul', [gc, at(r0, c0)]), op(g, names, 'Mul', [fc, at(r0, c1)])]);
  const bottom = op(g, names, 'Add', [op(g, names, 'Mul', [gc, at(r1, c0)]), op(g, names, 'Mul', [fc, at(r1, c1)])]);
  const sampled = op(g, names, 'Add', [op(g, names, 'Mul', [gr, top]), op(g, names, 'Mul', [fr, bottom])]);
  return { name: op(g, names, 'Where', [some, sampled, x.name]), type: 'DOUBLE', cols: n };
}

/**
 * hogImage as nodes, in float64, for each cell size (concatenated): centred differences (MatMul with a
 * fixed ±1 matrix, zero on the border), magnitude √(gx² + gy²), the unsigned orientation's bin, the magnitudes summed
 * per cell and bin (MatMul with the cell-membership matrix: pixels past the last whole cell are left
 * out), divided by the cell area, gathered into overlapping blocks and normalised with L2-Hys.
 */
function hogNodes(g: GraphBuilder, names: Names, x: Tensor, [h, w]: readonly [number, number], spec: Extract<StepSpec, { step: 'hog' }>): Tensor {
  const n = h * w;
  const sizes = typeof spec.cellSize === 'number' ? [spec.cellSize] : [...spec.cellSize];
  const { bins, blockSize: bs } = spec;
  const dx = new Float32Array(n * n);
  const dy = new Float32Array(n * n);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      if (c > 0 && c < w - 1) {
        dx[(r * w + c + 1) * n + r * w + c] = 1;
        dx[(r * w + c - 1) * n + r * w + c] = -1;
      }
      if (r > 0 && r < h - 1) {
        dy[((r + 1) * w + c) * n + r * w + c] = 1;
        dy[((r - 1) * w + c) * n + r * w + c] = -1;
      }
    }
  }
  const gx = op(g, names, 'MatMul', [x.name, f64From32(g, names, 'diff_x', dx, [n, n])]);
  const gy = op(g, names, 'MatMul', [x.name, f64From32(g, names, 'diff_y', dy, [n, n])]);
  const mag = op(g, names, 'Sqrt', [op(g, names, 'Add', [op(g, names, 'Mul', [gx, gx]), op(g, names, 'Mul', [gy, gy])])]);
  const zero = f64(g, names, 'zero', [0], []);
  // The bin without an angle (ONNX's Atan has no float64 kernel in onnxruntime): fold the gradient into
  // the upper half-plane, (u, v) with v ≥ 0, then θ ≥ φ_k exactly when v·cos φ_k − u·sin φ_k ≥ 0 for each
  // bin edge φ_k, and the bin is the number of edges passed. This is the runtime's floor(θ / width) but
  // within rounding of an edge; of the edges only 45°, 90° and 135° have rational slopes that gradients
  // can hit exactly, so gradients along the axes and diagonals take the bin hogImage computes for them.
  const flip = op(g, names, 'Or', [op(g, names, 'Less', [gy, zero]), op(g, names, 'And', [op(g, names, 'Equal', [gy, zero]), op(g, names, 'Less', [gx, zero])])]);
  const u = op(g, names, 'Where', [flip, op(g, names, 'Neg', [gx]), gx]);
  const v = op(g, names, 'Where', [flip, op(g, names, 'Neg', [gy]), gy]);
  const edges = Array.from({ length: bins - 1 }, (_, k) => ((k + 1) * Math.PI) / bins);
  const axis2 = () => i64(g, names, 'axis2', [2], [1]);
  const cross = op(g, names, 'Add', [
    op(g, names, 'Mul', [op(g, names, 'Unsqueeze', [v, axis2()]), f64(g, names, 'edge_cos', edges.map(Math.cos), [1, 1, bins - 1])]),
    op(g, names, 'Mul', [op(g, names, 'Unsqueeze', [u, axis2()]), f64(g, names, 'edge_minus_sin', edges.map((e) => -Math.sin(e)), [1, 1, bins - 1])]),
  ]);
  let bin = op(g, names, 'ReduceSum', [op(g, names, 'Cast', [op(g, names, 'GreaterOrEqual', [cross, zero])], { to: DataType.DOUBLE }), i64(g, names, 'axis2', [2], [1])], { keepdims: 0 });
  const binOf = (y: number, xx: number) => {
    let angle = (Math.atan2(y, xx) * 180) / Math.PI;
    if (angle < 0) angle += 180;
    if (angle >= 180) angle -= 180;
    return Math.min(bins - 1, Math.floor(angle / (180 / bins)));
  };
  const positive = op(g, names, 'Greater', [gx, zero]);
  const exact = (when: string, pos: number, neg: number) => {
    bin = op(g, names, 'Where', [when, op(g, names, 'Where', [positive, f64(g, names, 'bin', [pos], []), f64(g, names, 'bin', [neg], [])]), bin]);
  };
  exact(op(g, names, 'Equal', [gy, zero]), binOf(0, 1), binOf(0, -1));
  exact(op(g, names, 'Equal', [gy, gx]), binOf(1, 1), binOf(-1, -1));
  exact(op(g, names, 'Equal', [gy, op(g, names, 'Neg', [gx])]), binOf(-1, 1), binOf(1, -1));
  exact(op(g, names, 'Equal', [gx, zero]), binOf(1, 0), binOf(1, 0));
  bin = op(g, names, 'Where', [op(g, names, 'And', [op(g, names, 'Equal', [gx, zero]), op(g, names, 'Less', [gy, zero])]), f64(g, names, 'bin', [binOf(-1, 0)], []), bin]);
  // Each pixel's magnitude in its bin's column: [N, n, bins] → [N, bins, n].
  const inBin = op(g, names, 'Cast', [op(g, names, 'Equal', [op(g, names, 'Unsqueeze', [bin, i64(g, names, 'axis2', [2], [1])]), f64(g, names, 'bins', Array.from({ length: bins }, (_, b) => b), [1, 1, bins])])], { to: DataType.DOUBLE });
  const votes = op(g, names, 'Transpose', [op(g, names, 'Mul', [inBin, op(g, names, 'Unsqueeze', [mag, i64(g, names, 'axis2', [2], [1])])])], { perm: [0, 2, 1] });
  const parts: string[] = [];
  let cols = 0;
  for (const cs of sizes) {
    const cr = Math.floor(h / cs);
    const cc = Math.floor(w / cs);
    const member = new Float64Array(n * cr * cc);
    for (let r = 0; r < cr * cs; r++) for (let c = 0; c < cc * cs; c++) member[(r * w + c) * cr * cc + Math.floor(r / cs) * cc + Math.floor(c / cs)] = 1;
    // [N, bins, cells] → [N, cells, bins] → [N, cells·bins], divided by the cell's area.
    const hist = op(g, names, 'MatMul', [votes, f64(g, names, 'cells', member, [n, cr * cc])]);
    const flat = op(g, names, 'Div', [op(g, names, 'Reshape', [op(g, names, 'Transpose', [hist], { perm: [0, 2, 1] }), i64(g, names, 'shape', [0, -1], [2])]), f64(g, names, 'area', [cs * cs], [])]);
    const blocks: number[] = [];
    for (let br = 0; br + bs <= cr; br++) {
      for (let bc = 0; bc + bs <= cc; bc++) {
        for (let i = 0; i < bs; i++) for (let j = 0; j < bs; j++) for (let b = 0; b < bins; b++) blocks.push(((br + i) * cc + (bc + j)) * bins + b);
      }
    }
    const blockLen = bs * bs * bins;
    const nBlocks = blocks.length / blockLen;
    const v = op(g, names, 'Reshape', [op(g, names, 'Gather', [flat, i64(g, names, 'block_cells', blocks, [blocks.length])], { axis: 1 }), i64(g, names, 'shape', [0, nBlocks, blockLen], [3])]);
    const eps2 = f64(g, names, 'eps2', [1e-5 * 1e-5], []);
    const norm = (t: string) => op(g, names, 'Sqrt', [op(g, names, 'Add', [op(g, names, 'ReduceSumSquare', [t], { axes: [2], keepdims: 1 }), eps2])]);
    const clipped = op(g, names, 'Min', [op(g, names, 'Div', [v, norm(v)]), f64(g, names, 'clip', [0.2], [])]);
    parts.push(op(g, names, 'Reshape', [op(g, names, 'Div', [clipped, norm(clipped)]), i64(g, names, 'shape', [0, -1], [2])]));
    cols += blocks.length;
  }
  return { name: parts.length === 1 ? parts[0]! : op(g, names, 'Concat', parts, { axis: 1 }), type: 'DOUBLE', cols };
}
