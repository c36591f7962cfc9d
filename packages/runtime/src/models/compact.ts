/**
 * Compact storage of a model's large arrays (issue 23 item 6): float32, float16 or int8, always read
 * back as plain float32 / float64 arrays at load, so predict code never sees the stored precision.
 *
 * - float32: 4 bytes a value (float64 values rounded to the nearest float32).
 * - float16: 2 bytes a value, IEEE 754 binary16 rounded to nearest, ties to even (relative error ≤ 2⁻¹¹;
 *   normal range ±6.1e-5 … ±65504, smaller magnitudes as subnormals with absolute error ≤ 3e-8). Encoded
 *   from the exact value (no double rounding through float32) and decoded by bit operations into float32
 *   bits. No Float16Array (Node 20 lacks it).
 * - int8: 1 byte a value, linear per group: each group of values (a column, a row, or any grouping the
 *   format names) stores its own min and max (float64), and a value v becomes
 *   q = round((v − min) / step) − 128 with step = (max − min) / 255, so 256 levels span the group's range.
 *   Decoding gives min + (q + 128) · step, exactly min at q = −128 and exactly max at q = 127; the error of
 *   any other value is at most step / 2. A group whose values are all equal is stored exactly.
 *
 * Layout of a packed array of n values with g int8 groups (little-endian, no padding; a format places
 * each packed array at an offset of its choosing):
 *   float32: n × f32          float16: n × u16          int8: g × (f64 min, f64 max), then n × i8
 */

/** How a saved model stores its large arrays. */
export type Precision = 'float32' | 'float16' | 'int8';

/** Every precision, the default first. */
export const PRECISIONS = ['float32', 'float16', 'int8'] as const satisfies readonly Precision[];

/** The compact ones: what a built-in plugin's `precisions` lists. */
export const COMPACT_PRECISIONS: readonly Precision[] = ['float16', 'int8'];

/** What `Model.serialize` takes: the precision of the large arrays (default float32, the exact format). */
export interface SerializeOptions {
  precision?: Precision;
}

/** The short name used in file names: f32, f16, int8. */
export function precisionTag(p: Precision): string {
  return p === 'float32' ? 'f32' : p === 'float16' ? 'f16' : 'int8';
}

/**
 * Which int8 group each value belongs to: every value one group ('all'), the column (value i of a rows ×
 * cols array is in column i mod cols), the row (⌊i / cols⌋), or a group number per value.
 */
export type Grouping = { by: 'all' } | { by: 'column'; cols: number } | { by: 'row'; cols: number } | { by: 'index'; group: ArrayLike<number>; count: number };

function groupCount(n: number, g: Grouping): number {
  switch (g.by) {
    case 'all':
      return 1;
    case 'column':
      return g.cols;
    case 'row':
      return g.cols === 0 ? 0 : Math.ceil(n / g.cols);
    case 'index':
      return g.count;
  }
}

function groupOf(g: Grouping): (i: number) => number {
  switch (g.by) {
    case 'all':
      return () => 0;
    case 'column': {
      const c = g.cols;
      return (i) => i % c;
    }
    case 'row': {
      const c = g.cols;
      return (i) => Math.floor(i / c);
    }
    case 'index': {
      const a = g.group;
      return (i) => a[i]!;
    }
  }
}

/** Bytes a packed array of n values takes. */
export function packedBytes(n: number, precision: Precision, grouping: Grouping = { by: 'all' }): number {
  if (precision === 'float32') return n * 4;
  if (precision === 'float16') return n * 2;
  return groupCount(n, grouping) * 16 + n;
}

// ---- float16 ----

/** Rounds to the nearest integer, ties to even (x ≥ 0). */
function roundEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/** The binary16 bits of v (rounded to nearest, ties to even); ±Infinity beyond the range, NaN to a quiet NaN. */
export function toFloat16Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  // 65520 is halfway between 65504 (the largest half) and 65536: ties to even go up, to infinity.
  if (a >= 65520) return sign | 0x7c00;
  // Subnormals (and zero): units of 2⁻²⁴ (a scaling by a power of two is exact). 1024 units are the smallest normal, whose bits follow on.
  if (a < 2 ** -14) return sign | roundEven(a * 2 ** 24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let m = roundEven((a / 2 ** e) * 1024);
  if (m === 2048) {
    m = 1024;
    e++;
  }
  if (e > 15) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | (m - 1024);
}

/** The float32 bits of a binary16 value (exact: every half is a float32). */
function float32BitsOfHalf(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >> 10) & 0x1f;
  let m = h & 0x3ff;
  if (e === 0x1f) return (sign | 0x7f800000 | (m << 13)) >>> 0;
  if (e !== 0) return (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
  if (m === 0) return sign >>> 0;
  // Subnormal half: normalize (a half subnormal is a float32 normal).
  let exp = 113;
  while ((m & 0x400) === 0) {
    m <<= 1;
    exp--;
  }
  return (sign | (exp << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** The value of binary16 bits. */
export function fromFloat16Bits(h: number): number {
  scratchBits[0] = float32BitsOfHalf(h);
  return scratch[0]!;
}

// ---- packing ----

/** The largest half ≤ v (v finite, within range). */
function float16BitsDown(v: number): number {
  const h = toFloat16Bits(v);
  if (fromFloat16Bits(h) <= v) return h;
  // One step towards −∞: a smaller magnitude for a positive half, a larger one for a negative half (+0 goes to the smallest negative subnormal).
  return h === 0 ? 0x8001 : h & 0x8000 ? h + 1 : h - 1;
}

/**
 * How values are rounded to the stored grid: 'nearest' (the default), or 'down' (the largest stored value
 * ≤ v; error up to one float16 step, or one int8 level). A tree's threshold t is only ever used as `x < t`:
 * rounded down, every x ≥ t still goes right, and an x below t goes left unless it lies within that
 * error below t.
 */
export type Rounding = 'nearest' | 'down';

/**
 * Packs n values at `precision`. `who` names the model in errors: a non-finite value, or (float16) a
 * value beyond ±65504, is refused in one line naming its index.
 */
export function packValues(values: ArrayLike<number>, precision: Precision, grouping: Grouping, who: string, rounding: Rounding = 'nearest'): Uint8Array {
  const n = values.length;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(values[i]!)) throw new Error(`${who}: value ${i} (${values[i]}) is not finite; a ${precision} model stores finite values only.`);
  }
  const out = new Uint8Array(packedBytes(n, precision, grouping));
  const view = new DataView(out.buffer);
  if (precision === 'float32') {
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      let f = Math.fround(v);
      // The float32 below v: the next one down from a float32 rounded up.
      if (rounding === 'down' && f > v) f = f > 0 ? nextDown32(f) : -nextUp32(-f);
      view.setFloat32(i * 4, f, true);
    }
    return out;
  }
  if (precision === 'float16') {
    for (let i = 0; i < n; i++) {
      const h = rounding === 'down' && Math.abs(values[i]!) < 65504 ? float16BitsDown(values[i]!) : toFloat16Bits(values[i]!);
      if ((h & 0x7c00) === 0x7c00) throw new Error(`${who}: value ${i} (${values[i]}) is beyond float16's range (±65504); store this model as int8 or float32.`);
      view.setUint16(i * 2, h, true);
    }
    return out;
  }
  const g = groupCount(n, grouping);
  const of = groupOf(grouping);
  const lo = new Float64Array(g).fill(Infinity);
  const hi = new Float64Array(g).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    const k = of(i);
    const v = values[i]!;
    if (v < lo[k]!) lo[k] = v;
    if (v > hi[k]!) hi[k] = v;
  }
  for (let k = 0; k < g; k++) {
    // An empty group stores 0, 0.
    if (lo[k]! > hi[k]!) lo[k] = hi[k] = 0;
    view.setFloat64(k * 16, lo[k]!, true);
    view.setFloat64(k * 16 + 8, hi[k]!, true);
  }
  const step = Float64Array.from(lo, (l, k) => (hi[k]! - l) / 255);
  const q = new Int8Array(out.buffer, g * 16, n);
  for (let i = 0; i < n; i++) {
    const k = of(i);
    const s = step[k]!;
    const v = values[i]!;
    let level = 0;
    if (s > 0) {
      level = Math.min(255, Math.max(0, (rounding === 'down' ? Math.floor : Math.round)((v - lo[k]!) / s)));
      // What the decoder computes must not be above v (the division may round up across a level).
      if (rounding === 'down') {
        while (level > 0 && decodeLevel(level, lo[k]!, hi[k]!, s) > v) level--;
        while (level < 255 && decodeLevel(level + 1, lo[k]!, hi[k]!, s) <= v) level++;
      }
    }
    q[i] = level - 128;
  }
  return out;
}

/** An int8 level (0..255) of a group back to its value: min at 0, max at 255, min + level · step between. */
function decodeLevel(level: number, lo: number, hi: number, step: number): number {
  return level === 255 ? hi : lo + level * step;
}

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);

/** The float32 below a positive float32. */
function nextDown32(f: number): number {
  f32[0] = f;
  f32Bits[0]!--;
  return f32[0]!;
}

/** The float32 above a non-negative float32. */
function nextUp32(f: number): number {
  f32[0] = f;
  f32Bits[0]!++;
  return f32[0]!;
}

/**
 * Unpacks n values packed at `precision` from the start of `bytes` (which holds at least
 * packedBytes(n, …) bytes) into `out`. Throws a one-line reason (for the format's own error) when a
 * stored value or an int8 range is not finite, or a range is reversed.
 */
export function unpackValues(bytes: Uint8Array, n: number, precision: Precision, grouping: Grouping, out: Float32Array | Float64Array): void {
  const need = packedBytes(n, precision, grouping);
  if (bytes.length < need) throw new Error(`a ${precision} array of ${n} values needs ${need} bytes, has ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, need);
  if (precision === 'float32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  } else if (precision === 'float16') {
    if (out instanceof Float32Array) {
      // Straight into float32 bits.
      const bits = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) bits[i] = float32BitsOfHalf(view.getUint16(i * 2, true));
    } else {
      for (let i = 0; i < n; i++) out[i] = fromFloat16Bits(view.getUint16(i * 2, true));
    }
  } else {
    const g = groupCount(n, grouping);
    const of = groupOf(grouping);
    const lo = new Float64Array(g);
    const hi = new Float64Array(g);
    const step = new Float64Array(g);
    for (let k = 0; k < g; k++) {
      lo[k] = view.getFloat64(k * 16, true);
      hi[k] = view.getFloat64(k * 16 + 8, true);
      if (!Number.isFinite(lo[k]!) || !Number.isFinite(hi[k]!) || lo[k]! > hi[k]!) throw new Error(`int8 group ${k} has an invalid range`);
      step[k] = (hi[k]! - lo[k]!) / 255;
    }
    const q = new Int8Array(bytes.buffer, bytes.byteOffset + g * 16, n);
    for (let i = 0; i < n; i++) {
      const k = of(i);
      out[i] = decodeLevel(q[i]! + 128, lo[k]!, hi[k]!, step[k]!);
    }
  }
  for (let i = 0; i < n; i++) if (!Number.isFinite(out[i]!)) throw new Error(`stored value ${i} is not finite`);
}

/** Rounds n up to a multiple of 8 (packed arrays are placed at 8-byte offsets by the formats). */
export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** The precision a saved header names, or undefined when it names none of them. */
export function parsePrecision(v: unknown): Precision | undefined {
  return typeof v === 'string' && (PRECISIONS as readonly string[]).includes(v) ? (v as Precision) : undefined;
}
