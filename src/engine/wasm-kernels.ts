/**
 * Kernels for the tfjs wasm backend (4.22.0), registered for backend 'wasm' only; other backends are
 * untouched. Each one is built from ops the wasm backend runs fast (XNNPACK convolutions, plain
 * matMul, transpose, pad, slice), inside `tidy`.
 *
 * - Conv2DBackpropFilter: missing on wasm (tensorflow/tfjs issue 8474), so a CNN cannot train there.
 * - Conv2DBackpropInput: present but many times slower than a convolution of the same size; for stride 1
 *   it is replaced by that convolution.
 * - BatchMatMul with transposeA or transposeB: several times slower than transposing first (a dense
 *   layer's weight and input gradients); it is replaced by transpose + plain matMul.
 * - MaxPoolGrad: a plain JS loop on the wasm heap, many times faster than the backend's.
 * - Sum over leading axes (bias gradients): one JS pass on the heap instead of transpose + loop.
 * Each is compared against the cpu backend's kernel in test/wasm-kernel.test.ts. The timings behind
 * each choice (tfjs 4.22.0, batch 128) are in docs/measurements.md.
 */
import * as tf from '@tensorflow/tfjs';
import type {
  BatchMatMulAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelConfig,
  KernelFunc,
  MaxPoolGradAttrs,
  NamedAttrMap,
  NamedTensorInfoMap,
  SumAttrs,
  TensorInfo,
} from '@tensorflow/tfjs';

/** The parts of tfjs-backend-wasm's BackendWasm used here (its tensors live in the wasm heap). */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

const BACKEND = 'wasm';
/** Marks the configs registered here, so a second call (or a second copy of this module) is a no-op. */
const MARK = Symbol.for('digitbench.wasmKernel');

type Marked = KernelConfig & { [MARK]?: true };

/**
 * A Tensor handle on a kernel input, so tfjs ops can take it. makeTensorFromTensorInfo only counts the
 * handle in the engine; the backend's reference count must be raised too, or disposing the handle (at
 * the end of `tidy`) would free the caller's data.
 */
function tensor(info: TensorInfo): tf.Tensor {
  const engine = tf.engine();
  const t = engine.makeTensorFromTensorInfo(info);
  engine.backend.incRef(info.dataId);
  return t;
}

function nhwcOnly(dataFormat: string, kernel: string): void {
  if (dataFormat !== 'NHWC') {
    throw new Error(`${kernel} on the wasm backend supports dataFormat NHWC only, got ${dataFormat}; use channelsLast layers.`);
  }
}

/**
 * dW[fh, fw, ci, co] = Σ_{n, oh, ow} xPadded[n, oh·sH + fh, ow·sW + fw, ci] · dy[n, oh, ow, co].
 * With batch and channels swapped that is a convolution: input xPadded → [C_in, H, W, N], filter
 * dy → [OH, OW, N, C_out], the forward strides as dilations; its output [C_in, ≥FH, ≥FW, C_out] is
 * sliced to the filter size and transposed to [FH, FW, C_in, C_out].
 */
function conv2DBackpropFilter(args: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend?: unknown }): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  nhwcOnly(attrs.dataFormat, 'Conv2DBackpropFilter');
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const cols = info.filterHeight * info.filterWidth * info.inChannels * info.batchSize * info.outHeight * info.outWidth;
  const im2col = im2colMode === 'auto' ? info.inChannels === 1 && info.outChannels >= 16 && cols <= IM2COL_LIMIT : im2colMode === 'always';
  if (im2col && x.dtype === 'float32' && args.backend) return filterGradIm2col(x, dy, info, args.backend as WasmHeapBackend);
  const { top, bottom, left, right } = info.padInfo;
  return tf.tidy(() => {
    let xs = tf.transpose(tensor(x) as tf.Tensor4D, [3, 1, 2, 0]); // [C_in, H, W, N]
    // Padding after the transpose copies runs of N values, not of C_in (faster at C_in = 1).
    if (top || bottom || left || right) xs = tf.pad(xs, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    const dys = tf.transpose(tensor(dy) as tf.Tensor4D, [1, 2, 0, 3]); // [OH, OW, N, C_out]
    const full = tf.conv2d(xs, dys, 1, 'valid', 'NHWC', [info.strideHeight, info.strideWidth]);
    const cut =
      full.shape[1] === info.filterHeight && full.shape[2] === info.filterWidth
        ? full
        : tf.slice(full, [0, 0, 0, 0], [info.inChannels, info.filterHeight, info.filterWidth, info.outChannels]);
    return tf.transpose(cut, [1, 2, 0, 3]);
  });
}

/**
 * A first layer (one input channel) with at least 16 output channels, below this many im2col values
 * (FH·FW·C_in × N·OH·OW), takes its filter gradient as one matMul of the im2col matrix with dy: for
 * keras-mnist's first layer that is several times faster than the convolution (whose output there is
 * only 3×3 positions). Elsewhere building the matrix in JS costs as much or more than it saves (LeNet's
 * first layer, with 6 output channels, was even; larger layers were slower): docs/measurements.md.
 */
const IM2COL_LIMIT = 8_000_000;
let im2colMode: 'auto' | 'always' | 'never' = 'auto';

/** For tests and timings: which construction Conv2DBackpropFilter uses; returns the previous mode. */
export function setIm2colMode(mode: 'auto' | 'always' | 'never'): 'auto' | 'always' | 'never' {
  const was = im2colMode;
  im2colMode = mode;
  return was;
}

/**
 * dW[(fh, fw, ci), co] = A · dy, where A[(fh, fw, ci), (n, oh, ow)] = xPadded[n, oh·sH + fh, ow·sW + fw, ci]
 * is built in JS on the wasm heap, row by row (each row a shifted, strided copy of one input channel),
 * and dy [N, OH, OW, C_out] is already the [N·OH·OW, C_out] matrix.
 */
function filterGradIm2col(x: TensorInfo, dy: TensorInfo, info: ReturnType<typeof tf.backend_util.computeConv2DInfo>, backend: WasmHeapBackend): TensorInfo {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: CO } = info;
  const { filterHeight: FH, filterWidth: FW, strideHeight: sH, strideWidth: sW } = info;
  const { top, left } = info.padInfo;
  const P = N * OH * OW;
  const colsInfo = backend.makeOutput([FH * FW * C, P], 'float32');
  const a = backend.typedArrayFromHeap(colsInfo);
  const xv = backend.typedArrayFromHeap(x);
  for (let fh = 0, k = 0; fh < FH; fh++) {
    for (let fw = 0; fw < FW; fw++) {
      // Output columns whose input column ow·sW + fw − left is inside the image.
      const owMin = Math.max(0, Math.ceil((left - fw) / sW));
      const owMax = Math.min(OW, Math.floor((W - 1 + left - fw) / sW) + 1);
      for (let ci = 0; ci < C; ci++, k++) {
        let o = k * P;
        for (let n = 0; n < N; n++) {
          for (let oh = 0; oh < OH; oh++, o += OW) {
            const ih = oh * sH + fh - top;
            if (ih < 0 || ih >= H || owMax <= owMin) {
              a.fill(0, o, o + OW);
              continue;
            }
            if (owMin > 0) a.fill(0, o, o + owMin);
            if (owMax < OW) a.fill(0, o + owMax, o + OW);
            const step = sW * C;
            for (let ow = owMin, i = ((n * H + ih) * W + owMin * sW + fw - left) * C + ci; ow < owMax; ow++, i += step) a[o + ow] = xv[i]!;
          }
        }
      }
    }
  }
  return tf.tidy(() => {
    const cols = tf.engine().makeTensorFromTensorInfo(colsInfo); // owns colsInfo: freed by this tidy
    const d = tf.reshape(tensor(dy), [P, CO]);
    return tf.reshape(tf.matMul(cols as tf.Tensor2D, d as tf.Tensor2D), [FH, FW, C, CO]);
  });
}

/**
 * Stride 1: dx = a 'valid' convolution of dy, padded by (filter − 1 − forward pad) before and the
 * remainder after, with the filter rotated 180° and its in/out channels swapped. Other strides go to
 * the backend's own kernel.
 */
function conv2DBackpropInput(
  original: KernelFunc,
  args: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown },
): TensorInfo | TensorInfo[] {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
  if (attrs.dataFormat === 'NHWC') {
    const info = tf.backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter.shape as [number, number, number, number],
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const top = info.filterHeight - 1 - info.padInfo.top;
    const left = info.filterWidth - 1 - info.padInfo.left;
    const bottom = info.inHeight - info.outHeight + info.filterHeight - 1 - top;
    const right = info.inWidth - info.outWidth + info.filterWidth - 1 - left;
    if (info.strideHeight === 1 && info.strideWidth === 1 && Math.min(top, left, bottom, right) >= 0) {
      return tf.tidy(() => {
        let d = tensor(dy) as tf.Tensor4D;
        if (top || bottom || left || right) d = tf.pad(d, [[0, 0], [top, bottom], [left, right], [0, 0]]);
        const w = tf.transpose(tf.reverse(tensor(filter) as tf.Tensor4D, [0, 1]), [0, 1, 3, 2]);
        return tf.conv2d(d, w, 1, 'valid');
      });
    }
  }
  return original(args as Parameters<KernelFunc>[0]);
}

/** Swaps the last two axes. */
function transposeLast2(t: tf.Tensor): tf.Tensor {
  const perm = [...Array(t.rank).keys()];
  perm[t.rank - 2] = t.rank - 1;
  perm[t.rank - 1] = t.rank - 2;
  return tf.transpose(t, perm);
}

/** transposeA / transposeB: transpose the operand first, then the backend's fast plain matMul. */
function batchMatMul(
  original: KernelFunc,
  args: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown },
): TensorInfo | TensorInfo[] {
  const attrs = args.attrs as unknown as BatchMatMulAttrs;
  if (!attrs.transposeA && !attrs.transposeB) return original(args as Parameters<KernelFunc>[0]);
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  return tf.tidy(() => {
    const at = attrs.transposeA ? transposeLast2(tensor(a)) : tensor(a);
    const bt = attrs.transposeB ? transposeLast2(tensor(b)) : tensor(b);
    return tf.matMul(at, bt, false, false);
  });
}

/**
 * Max-pool gradient in plain JS on the wasm heap (no copies): for each pooling window, dy goes to the
 * first maximum in row-major window order, as the cpu backend does. The backend's own kernel takes
 * many times longer (docs/measurements.md).
 */
function maxPoolGrad(
  original: KernelFunc,
  args: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown },
): TensorInfo | TensorInfo[] {
  const { dy, input } = args.inputs as { dy: TensorInfo; input: TensorInfo };
  if (dy.dtype !== 'float32' || input.dtype !== 'float32') return original(args as Parameters<KernelFunc>[0]);
  const attrs = args.attrs as unknown as MaxPoolGradAttrs;
  const backend = args.backend as WasmHeapBackend;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const out = backend.makeOutput(input.shape, 'float32');
  // Views after the allocation: a heap growth detaches views made before it.
  const dx = backend.typedArrayFromHeap(out);
  const xv = backend.typedArrayFromHeap(input);
  const dyv = backend.typedArrayFromHeap(dy);
  dx.fill(0);
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  if (filterHeight === 2 && filterWidth === 2 && strideHeight === 2 && strideWidth === 2 && padTop === 0 && padLeft === 0 && 2 * OH <= H && 2 * OW <= W) {
    maxPoolGrad2x2(xv, dyv, dx, batchSize, H, W, C, OH, OW);
    return out;
  }
  for (let b = 0; b < batchSize; b++) {
    for (let yR = 0; yR < OH; yR++) {
      const r0 = yR * strideHeight - padTop;
      const rMin = Math.max(r0, 0);
      const rMax = Math.min(r0 + filterHeight, H);
      for (let yC = 0; yC < OW; yC++) {
        const c0 = yC * strideWidth - padLeft;
        const cMin = Math.max(c0, 0);
        const cMax = Math.min(c0 + filterWidth, W);
        const dyBase = ((b * OH + yR) * OW + yC) * C;
        for (let d = 0; d < C; d++) {
          let best = -Infinity;
          let at = -1;
          for (let xR = rMin; xR < rMax; xR++) {
            for (let i = ((b * H + xR) * W + cMin) * C + d, end = i + (cMax - cMin) * C; i < end; i += C) {
              const v = xv[i]!;
              if (v > best) {
                best = v;
                at = i;
              }
            }
          }
          if (at >= 0) dx[at] = dx[at]! + dyv[dyBase + d]!;
        }
      }
    }
  }
  return out;
}

/**
 * The common 2×2 pool of stride 2 without padding: four fixed offsets, channels innermost (contiguous).
 * Same rule as the general loop: the first maximum in row-major window order (strict >) gets dy.
 */
function maxPoolGrad2x2(xv: Float32Array, dyv: Float32Array, dx: Float32Array, N: number, H: number, W: number, C: number, OH: number, OW: number): void {
  const rowStride = W * C;
  for (let b = 0, o = 0; b < N; b++) {
    for (let yR = 0; yR < OH; yR++) {
      const row = (b * H + 2 * yR) * rowStride;
      for (let yC = 0; yC < OW; yC++) {
        const i00 = row + 2 * yC * C;
        for (let d = 0; d < C; d++, o++) {
          const a = i00 + d;
          const p = a + C;
          const q = a + rowStride;
          const r = q + C;
          let best = -Infinity;
          let at = -1;
          let v = xv[a]!;
          if (v > best) {
            best = v;
            at = a;
          }
          v = xv[p]!;
          if (v > best) {
            best = v;
            at = p;
          }
          v = xv[q]!;
          if (v > best) {
            best = v;
            at = q;
          }
          v = xv[r]!;
          if (v > best) at = r;
          if (at >= 0) dx[at] = dyv[o]!;
        }
      }
    }
  }
}

/**
 * Sum over leading axes (a bias gradient: dy [N, H, W, C] summed to [C]) in plain JS on the wasm heap,
 * accumulated in float64: one pass, where the backend transposes and then sums (a matMul with a row of
 * ones was slower still, as XNNPACK repacks the new right operand every step).
 */
function sum(
  original: KernelFunc,
  args: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown },
): TensorInfo | TensorInfo[] {
  const { x } = args.inputs as { x: TensorInfo };
  const attrs = args.attrs as unknown as SumAttrs;
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs.axis, x.shape).sort((p, q) => p - q);
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading) return original(args as Parameters<KernelFunc>[0]);
  const m = x.shape.slice(0, axes.length).reduce((p, q) => p * q, 1);
  const rest = x.shape.slice(axes.length);
  const c = rest.reduce((p, q) => p * q, 1);
  // With few columns the backend's loop is faster (docs/measurements.md).
  if (c < 16) return original(args as Parameters<KernelFunc>[0]);
  const backend = args.backend as WasmHeapBackend;
  const out = backend.makeOutput(attrs.keepDims ? [...axes.map(() => 1), ...rest] : rest, 'float32');
  const xv = backend.typedArrayFromHeap(x);
  const acc = new Float64Array(c);
  for (let r = 0, i = 0; r < m; r++) {
    for (let j = 0; j < c; j++, i++) acc[j] = acc[j]! + xv[i]!;
  }
  backend.typedArrayFromHeap(out).set(acc);
  return out;
}

function wrap(name: string, replacement: typeof batchMatMul): void {
  const current = tf.getKernel(name, BACKEND) as Marked | undefined;
  if (!current || current[MARK]) return;
  const original = current.kernelFunc;
  tf.unregisterKernel(name, BACKEND);
  const config: Marked = {
    kernelName: name,
    backendName: BACKEND,
    setupFunc: current.setupFunc,
    disposeFunc: current.disposeFunc,
    kernelFunc: ((args: Parameters<KernelFunc>[0]) => replacement(original, args)) as KernelFunc,
    [MARK]: true,
  };
  tf.registerKernel(config);
}

/**
 * Registers the kernels above for the wasm backend. Idempotent. Call after importing
 * @tensorflow/tfjs-backend-wasm (its own kernels must be registered first) and before setBackend('wasm').
 */
export function registerWasmKernels(): void {
  if (!tf.getKernel('Conv2DBackpropFilter', BACKEND)) {
    const config: Marked = {
      kernelName: 'Conv2DBackpropFilter',
      backendName: BACKEND,
      kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
      [MARK]: true,
    };
    tf.registerKernel(config);
  }
  wrap('Conv2DBackpropInput', conv2DBackpropInput);
  wrap('BatchMatMul', batchMatMul);
  wrap('MaxPoolGrad', maxPoolGrad);
  wrap('Sum', sum);
}
