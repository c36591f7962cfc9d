/**
 * A convolutional network's forward pass as an ONNX graph (issue 25; docs/native-design.md §2.5 and item 8),
 * built from its layer list: what a Node app's loadModel runs CNN bundles on where onnxruntime-node loads.
 * The workbench's src/engine/ort-cnn.ts imports the layer list, shapes, names and forward pass from here
 * (through ../internal.ts) and extends them into its training step graph.
 *
 * Layers (`layersOf`, read from the tfjs model's layer configs): Conv2D (stride 1, 'same' or 'valid', ReLU
 * or none), MaxPooling2D (pool size = strides, 'valid'), Dropout (omitted in prediction), Flatten, Dense
 * (ReLU or none). Weights in tfjs's layout ([kh, kw, cin, cout] kernels, [in, out] dense kernels, NHWC
 * flattening); the graph transposes to NCHW inside. `cnnForwardGraph`: input `pixels` [N, h·w], output
 * `probabilities` [N, classes].
 */
import { GraphBuilder, type Attribute } from './onnx.ts';

/** What layersOf reads of a tfjs LayersModel (tfjs-layers' or the umbrella's). */
export interface LayersLike {
  layers: readonly { getConfig(): unknown; getClassName(): string }[];
}

export type CnnLayer =
  | { kind: 'conv'; filters: number; kernel: [number, number]; same: boolean; relu: boolean }
  | { kind: 'pool'; size: [number, number] }
  | { kind: 'dropout'; rate: number }
  | { kind: 'flatten' }
  | { kind: 'dense'; units: number; relu: boolean };

const WHO = 'cnn on onnxruntime';

/** The layer list of a tfjs Sequential model of the kinds above; anything else is refused in one line. */
export function layersOf(model: LayersLike): CnnLayer[] {
  return model.layers.map((layer, i) => {
    const c = layer.getConfig() as Record<string, unknown>;
    const kind = layer.getClassName();
    const act = c.activation ?? 'linear';
    const bad = (why: string) => new Error(`${WHO}: layer ${i} (${kind}) ${why}; train it with DIGITBENCH_ENGINE=wasm.`);
    if ((kind === 'Conv2D' || kind === 'Dense') && act !== 'relu' && act !== 'linear') throw bad(`has activation ${String(act)}, not relu or linear`);
    if (kind === 'Conv2D') {
      const k = c.kernelSize as number[];
      const s = c.strides as number[];
      const d = c.dilationRate as number[] | number;
      if (s.some((v) => v !== 1) || [d].flat().some((v) => v !== 1)) throw bad('has strides or dilation other than 1');
      if (c.padding === 'same' && k.some((v) => v % 2 === 0)) throw bad("has 'same' padding with an even kernel");
      if (c.useBias === false || c.dataFormat === 'channelsFirst') throw bad('has no bias or channels first');
      return { kind: 'conv', filters: c.filters as number, kernel: [k[0]!, k[1]!], same: c.padding === 'same', relu: act === 'relu' };
    }
    if (kind === 'MaxPooling2D') {
      const p = c.poolSize as number[];
      const s = c.strides as number[];
      if (c.padding !== 'valid' || p[0] !== s[0] || p[1] !== s[1]) throw bad("is not a 'valid' pool whose strides equal its size");
      return { kind: 'pool', size: [p[0]!, p[1]!] };
    }
    if (kind === 'Dropout') return { kind: 'dropout', rate: c.rate as number };
    if (kind === 'Flatten') return { kind: 'flatten' };
    if (kind === 'Dense') {
      if (c.useBias === false) throw bad('has no bias');
      return { kind: 'dense', units: c.units as number, relu: act === 'relu' };
    }
    throw bad('is not a kind the ONNX graphs build (Conv2D, MaxPooling2D, Dropout, Flatten, Dense)');
  });
}

/** What flows between layers: an NCHW image stack or a feature row per image. */
export type Shape = { c: number; h: number; w: number } | { f: number };

/** The weight tensors' shapes in tfjs's layout and order (kernel, bias per conv and dense layer), and each dropout mask's shape (NCHW or [N, f], without N). */
export function cnnShapes(layers: readonly CnnLayer[], [h, w]: readonly [number, number]): { weights: number[][]; masks: number[][]; classes: number } {
  let s: Shape = { c: 1, h, w };
  const weights: number[][] = [];
  const masks: number[][] = [];
  for (const l of layers) {
    if (l.kind === 'conv') {
      if (!('c' in s)) throw new Error(`${WHO}: a convolution after Flatten.`);
      weights.push([l.kernel[0], l.kernel[1], s.c, l.filters], [l.filters]);
      s = l.same ? { c: l.filters, h: s.h, w: s.w } : { c: l.filters, h: s.h - l.kernel[0] + 1, w: s.w - l.kernel[1] + 1 };
    } else if (l.kind === 'pool') {
      if (!('c' in s)) throw new Error(`${WHO}: a pool after Flatten.`);
      s = { c: s.c, h: Math.floor(s.h / l.size[0]), w: Math.floor(s.w / l.size[1]) };
    } else if (l.kind === 'dropout') {
      masks.push('c' in s ? [s.c, s.h, s.w] : [s.f]);
    } else if (l.kind === 'flatten') {
      if ('c' in s) s = { f: s.c * s.h * s.w };
    } else {
      if ('c' in s) throw new Error(`${WHO}: a dense layer before Flatten.`);
      weights.push([s.f, l.units], [l.units]);
      s = { f: l.units };
    }
    if ('c' in s && (s.h < 1 || s.w < 1)) throw new Error(`${WHO}: the images are too small for these layers (a side reaches ${Math.min(s.h, s.w)}).`);
  }
  if ('c' in s) throw new Error(`${WHO}: the last layer must be dense.`);
  return { weights, masks, classes: s.f };
}

/** Builds graphs with fresh value names. */
export class Names {
  private n = 0;
  constructor(readonly g: GraphBuilder) {}
  fresh(prefix: string): string {
    return `${prefix}_${this.n++}`;
  }
  op(type: string, inputs: readonly string[], attributes: Record<string, Attribute> = {}, prefix = type.toLowerCase()): string {
    return this.g.node(type, inputs, [this.fresh(prefix)], attributes);
  }
  ints(name: string, values: readonly number[]): string {
    return this.g.initializer(name, BigInt64Array.from(values, BigInt), [values.length]);
  }
  scalar(name: string, v: number): string {
    return this.g.initializer(name, Float32Array.of(v), []);
  }
}

/** What backward needs of a layer's forward pass. */
export interface Saved {
  layer: CnnLayer;
  input: string;
  output: string;
  inShape: Shape;
  /** conv: the NCHW kernel; dense: the tfjs kernel. */
  kernel?: string;
  /** pool: MaxPool's indices. */
  indices?: string;
  /** dropout: its mask input. */
  mask?: string;
  /** Index of the kernel in the weight list. */
  weight?: number;
}

/** The forward pass from `pixels` [N, h·w] to logits; weights named by `weight(i)`. */
export function forward(b: Names, layers: readonly CnnLayer[], [h, w]: readonly [number, number], weight: (i: number) => string, train: boolean): { logits: string; saved: Saved[] } {
  let s: Shape = { c: 1, h, w };
  let a = b.op('Reshape', ['pixels', b.ints('image_shape', [-1, 1, h, w])], {}, 'image');
  const saved: Saved[] = [];
  let wi = 0;
  let mi = 0;
  for (const l of layers) {
    const input = a;
    const inShape = s;
    if (l.kind === 'conv' && 'c' in s) {
      const kernel = b.op('Transpose', [weight(wi)], { perm: [3, 2, 0, 1] }, 'kernel_nchw');
      const pads = l.same ? [(l.kernel[0] - 1) / 2, (l.kernel[1] - 1) / 2, (l.kernel[0] - 1) / 2, (l.kernel[1] - 1) / 2] : [0, 0, 0, 0];
      a = b.op('Conv', [a, kernel, weight(wi + 1)], { kernel_shape: l.kernel, pads });
      if (l.relu) a = b.op('Relu', [a]);
      saved.push({ layer: l, input, output: a, inShape, kernel, weight: wi });
      wi += 2;
      s = l.same ? { c: l.filters, h: s.h, w: s.w } : { c: l.filters, h: s.h - l.kernel[0] + 1, w: s.w - l.kernel[1] + 1 };
    } else if (l.kind === 'pool' && 'c' in s) {
      const out = b.fresh('pool');
      const indices = train ? b.fresh('pool_indices') : undefined;
      b.g.node('MaxPool', [a], indices ? [out, indices] : [out], { kernel_shape: l.size, strides: l.size });
      a = out;
      saved.push({ layer: l, input, output: a, inShape, ...(indices ? { indices } : {}) });
      s = { c: s.c, h: Math.floor(s.h / l.size[0]), w: Math.floor(s.w / l.size[1]) };
    } else if (l.kind === 'dropout') {
      if (train) {
        const mask = `mask${mi++}`;
        a = b.op('Mul', [a, mask], {}, 'dropout');
        saved.push({ layer: l, input, output: a, inShape, mask });
      }
    } else if (l.kind === 'flatten') {
      if ('c' in s) {
        // tfjs flattens NHWC rows.
        const nhwc = b.op('Transpose', [a], { perm: [0, 2, 3, 1] }, 'nhwc');
        a = b.op('Reshape', [nhwc, b.ints(b.fresh('flat_shape'), [-1, s.c * s.h * s.w])], {}, 'flat');
        saved.push({ layer: l, input, output: a, inShape });
        s = { f: s.c * s.h * s.w };
      }
    } else if (l.kind === 'dense' && 'f' in s) {
      a = b.op('Gemm', [a, weight(wi), weight(wi + 1)]);
      if (l.relu) a = b.op('Relu', [a]);
      saved.push({ layer: l, input, output: a, inShape, kernel: weight(wi), weight: wi });
      wi += 2;
      s = { f: l.units };
    } else {
      throw new Error(`${WHO}: layer ${l.kind} does not fit the shape before it.`);
    }
  }
  return { logits: a, saved };
}

/** The prediction graph: weights (tfjs layout, cnnShapes order) as initializers; `pixels` → `probabilities`. */
export function cnnForwardGraph(layers: readonly CnnLayer[], imageShape: readonly [number, number], weights: readonly Float32Array[]): Uint8Array {
  const { weights: shapes, classes } = cnnShapes(layers, imageShape);
  checkWeights(weights, shapes);
  const g = new GraphBuilder('convolutional-network-forward');
  const b = new Names(g);
  g.input('pixels', 'FLOAT', ['N', imageShape[0] * imageShape[1]]);
  shapes.forEach((s, i) => g.initializer(`w${i}`, weights[i]!, s));
  const { logits } = forward(b, layers, imageShape, (i) => `w${i}`, false);
  g.node('Softmax', [logits], ['probabilities'], { axis: 1 });
  g.output('probabilities', 'FLOAT', ['N', classes]);
  return g.encode(17);
}

export function checkWeights(weights: readonly Float32Array[], shapes: number[][]): void {
  if (weights.length !== shapes.length) throw new Error(`${WHO}: ${weights.length} weight tensors for layers that have ${shapes.length}.`);
  shapes.forEach((s, i) => {
    const n = s.reduce((x, y) => x * y, 1);
    if (weights[i]!.length !== n) throw new Error(`${WHO}: weight tensor ${i} has ${weights[i]!.length} values; its layer needs [${s.join(', ')}] = ${n}.`);
  });
}
