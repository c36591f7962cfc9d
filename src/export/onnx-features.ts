/**
 * A bundle's fitted feature pipeline as ONNX nodes (issue 25 item 7, `digitbench export --onnx`). Each
 * step computes as the runtime's transform does (packages/runtime/src/features/): in float64 on the
 * float32 values of the step before, then rounded once to float32 (Cast), so the graph's features are the
 * runtime's but for the order of the float64 sums. Linear steps only: scale (Mul), standardize (Sub, Mul),
 * drop-constant (Gather), pca (MatMul, Sub; whitening folded into the components), downsample and blur
 * (MatMul with the step's fixed h·w × h'·w' matrix). deskew and hog have no ONNX form here yet: they
 * are refused in one line naming the step.
 */
import { DataType, type GraphBuilder } from '../engine/onnx.ts';
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

export function i64(g: GraphBuilder, names: Names, base: string, data: ArrayLike<number>, dims: readonly number[]): string {
  return g.initializer(names.next(base), BigInt64Array.from(Array.from(data, (v) => BigInt(v))), dims);
}

/** The one-line refusal of a step without an ONNX form. */
export function unsupportedStep(step: string): Error {
  return new Error(`export --onnx: step ${step} has no ONNX form yet; export a bundle without it.`);
}

/** Refuses, before anything is built, a pipeline with a step this exporter cannot write. */
export function checkSteps(specs: readonly StepSpec[]): void {
  for (const spec of specs) if (spec.step === 'deskew' || spec.step === 'hog') throw unsupportedStep(spec.step);
}

/**
 * Appends the pipeline's steps to `g` after `input` (float32 raw pixels, h·w columns); returns the
 * features as float32, as the runtime's pipeline gives them to the model.
 */
export function pipelineNodes(g: GraphBuilder, names: Names, input: Tensor, specs: readonly StepSpec[], states: readonly StepState[], inputImage: readonly [number, number]): Tensor {
  checkSteps(specs);
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
        const p = new Float64Array(h * w * oh * ow);
        for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) p[(r * w + c) * oh * ow + Math.floor(r / f) * ow + Math.floor(c / f)] = 1;
        const sums = g.node('MatMul', [d.name, f64(g, names, 'blocks', p, [h * w, oh * ow])], [names.next('block_sums')]);
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
      default:
        throw unsupportedStep(spec.step);
    }
    // The runtime stores every step's output as float32.
    x = cast(g, names, out, 'FLOAT');
  });
  return x;
}
