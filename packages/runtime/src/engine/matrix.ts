/** Large arrays are allocated on a SharedArrayBuffer so worker threads can read them without a copy. */
export const SHARE_FROM_ELEMENTS = 1 << 20;

/** A float32 array, on a SharedArrayBuffer when large and the platform has one (a page that is not cross-origin isolated has none). */
export function allocFloat32(n: number): Float32Array {
  return n >= SHARE_FROM_ELEMENTS && typeof SharedArrayBuffer !== 'undefined' ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n);
}

export function isShared(a: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;
}

/** A dense row-major float32 matrix. The only 2-D numeric shape used between layers. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
}

export function createMatrix(rows: number, cols: number, data?: Float32Array): Matrix {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new Error(`Matrix shape must be non-negative integers, got ${rows}×${cols}.`);
  }
  const buf = data ?? new Float32Array(rows * cols);
  if (buf.length !== rows * cols) {
    throw new Error(`Matrix data has ${buf.length} values; a ${rows}×${cols} matrix needs ${rows * cols}.`);
  }
  return { rows, cols, data: buf };
}

/** A view (no copy) of row i. */
export function row(m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** Copies the given rows, in the given order, into a new matrix. */
export function takeRows(m: Matrix, indices: ArrayLike<number>): Matrix {
  const out = allocFloat32(indices.length * m.cols);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    out.set(m.data.subarray(i * m.cols, (i + 1) * m.cols), k * m.cols);
  }
  return { rows: indices.length, cols: m.cols, data: out };
}

/** A view (no copy) of rows [start, end). */
export function sliceRows(m: Matrix, start: number, end: number): Matrix {
  return { rows: end - start, cols: m.cols, data: m.data.subarray(start * m.cols, end * m.cols) };
}

export function takeLabels(labels: Int32Array, indices: ArrayLike<number>): Int32Array {
  const out = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) out[k] = labels[indices[k]!]!;
  return out;
}

/** Nested plain arrays, for libraries that only accept number[][] (adapters only). */
export function toArrays(m: Matrix): number[][] {
  const out: number[][] = new Array(m.rows);
  for (let i = 0; i < m.rows; i++) out[i] = Array.from(row(m, i));
  return out;
}

export function fromArrays(rows: ArrayLike<ArrayLike<number>>): Matrix {
  const n = rows.length;
  const cols = n === 0 ? 0 : rows[0]!.length;
  const out = new Float32Array(n * cols);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    if (r.length !== cols) throw new Error(`Row ${i} has ${r.length} values; expected ${cols}.`);
    out.set(r, i * cols);
  }
  return { rows: n, cols, data: out };
}
