/**
 * Gaussian NB's two fit passes (the workbench's src/classifiers/naive-bayes.ts, fitPasses) and the quadratic
 * form of its labels (naive-bayes.ts, labelsTyped) as a small WebAssembly module, assembled here at first use,
 * two columns per f64x2 operation. Why: a bench run fits and predicts once in a fresh process, where V8 runs JS
 * loops for a while before its optimizing compiler has them ready; WebAssembly's baseline compiler makes these
 * few hundred bytes into machine code at once. Rough figures (busy 2-core machine, 60,000 × 50 / 10,000 rows):
 * the passes about 3 ms warm and 8–11 ms in a fresh process against 15 and 17–50 ms for the JS loops; the form
 * 2.4 and 8–11 ms against 5 and 11–20.
 * - The passes do the JS loops' arithmetic in the same order: every sum still adds its values in row order
 *   (lane-wise IEEE adds, subtracts and multiplies; float32 → float64 is exact; no fused multiply-add), so the
 *   sums, and the model JSON, are the JS loops' to the bit.
 * - The form's sums are in another order, which its rounding bound allows (labelsTyped's exact recheck is unchanged).
 * Rows are copied into the module's memory a block (about 256 kB) at a time. Without WebAssembly SIMD,
 * `wasmPasses()` and `wasmQuadratic()` give undefined and the JS loops run.
 */

/** Unsigned LEB128. */
function u(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const I32 = 0x7f;
const V128 = 0x7b;
const F64 = 0x7c;

// Opcodes (memory ones with their alignment and offset).
const BLOCK = 0x02;
const LOOP = 0x03;
const IF = 0x04;
const END = 0x0b;
const BR = 0x0c;
const BR_IF = 0x0d;
const VOID = 0x40;
const I32_LOAD = [0x28, 2, 0];
const F32_LOAD = [0x2a, 2, 0];
const F64_LOAD = [0x2b, 3, 0];
const F64_STORE = [0x39, 3, 0];
const I32_CONST = 0x41;
const I32_GE_U = 0x4f;
const I32_ADD = 0x6a;
const I32_MUL = 0x6c;
const I32_AND = 0x71;
const I32_SHL = 0x74;
const F64_ADD = 0xa0;
const F64_SUB = 0xa1;
const F64_MUL = 0xa2;
const F64_PROMOTE = 0xbb;
const simd = (op: number) => [0xfd, ...u(op)];
const V_LOAD = [...simd(0), 3, 0];
const V_STORE = [...simd(11), 3, 0];
const V_LOAD64_ZERO = [...simd(93), 2, 0];
const V_PROMOTE = simd(95);
const V_ADD = simd(240);
const V_SUB = simd(241);
const V_MUL = simd(242);
const V_ABS = simd(236);
const V_ZERO = [...simd(12), ...Array<number>(16).fill(0)];
const V_LANE = (lane: number) => [...simd(33), lane];
const F64_ABS = 0x99;
const I32_LT_U = 0x49;

const get = (l: number) => [0x20, ...u(l)];
const set = (l: number) => [0x21, ...u(l)];
const i32 = (v: number) => [I32_CONST, ...sleb(v)];

/** `acc[addr] += val` for a v128 and for an f64 (the address and the value as code). */
const vAccumulate = (addr: number[], val: number[]) => [...addr, ...addr, ...V_LOAD, ...val, ...V_ADD, ...V_STORE];
const fAccumulate = (addr: number[], val: number[]) => [...addr, ...addr, ...F64_LOAD, ...val, F64_ADD, ...F64_STORE];

/**
 * The row loop both passes share. Locals 0–3 are x, y, n, d (then the pass's pointers); from L: i, o, k, j,
 * end8, p (i32). For each row i < n: o = x + 4·i·d, k = 8·d·y[i]; `pair` runs for j = 0, 16, … < 8·(d & ~1)
 * (j a byte offset into float64 rows, p = o + j/2 the float32 pair's address), then `single` for the last
 * column of an odd d.
 */
function rowLoop(L: number, pair: number[], single: number[]): number[] {
  const [i, o, k, j, end8, p] = [L, L + 1, L + 2, L + 3, L + 4, L + 5];
  return [
    ...get(3), ...i32(-2), I32_AND, ...i32(3), I32_SHL, ...set(end8),
    ...i32(0), ...set(i),
    BLOCK, VOID, LOOP, VOID,
    ...get(i), ...get(2), I32_GE_U, BR_IF, 1,
    ...get(0), ...get(i), ...get(3), I32_MUL, ...i32(2), I32_SHL, I32_ADD, ...set(o),
    ...get(1), ...get(i), ...i32(2), I32_SHL, I32_ADD, ...I32_LOAD, ...get(3), I32_MUL, ...i32(3), I32_SHL, ...set(k),
    ...i32(0), ...set(j),
    ...get(o), ...set(p),
    BLOCK, VOID, LOOP, VOID,
    ...get(j), ...get(end8), I32_GE_U, BR_IF, 1,
    ...pair,
    ...get(j), ...i32(16), I32_ADD, ...set(j),
    ...get(p), ...i32(8), I32_ADD, ...set(p),
    BR, 0, END, END,
    ...get(3), ...i32(1), I32_AND, IF, VOID, ...single, END,
    ...get(i), ...i32(1), I32_ADD, ...set(i),
    BR, 0, END, END,
  ];
}

/**
 * The module: memory imported as env.memory; pass1(x, y, n, d, sum, total), pass2(x, y, n, d, mean, totalMean,
 * s1, s2, t1, t2), scores(x, n, d, C, ab, constant, out, n2, n1). Its bytes are kept as MODULE_BASE64.
 */
export function assembleModule(): Uint8Array<ArrayBuffer> {
  // pass1: locals 6–11 i32 (rowLoop's), 12 v128, 13 f64.
  const k1 = 8;
  const j1 = 9;
  const p1 = 11;
  const v1 = 12;
  const f1 = 13;
  const pass1 = rowLoop(
    6,
    [
      ...get(p1), ...V_LOAD64_ZERO, ...V_PROMOTE, ...set(v1),
      ...vAccumulate([...get(4), ...get(k1), I32_ADD, ...get(j1), I32_ADD], get(v1)),
      ...vAccumulate([...get(5), ...get(j1), I32_ADD], get(v1)),
    ],
    [
      ...get(p1), ...F32_LOAD, F64_PROMOTE, ...set(f1),
      ...fAccumulate([...get(4), ...get(k1), I32_ADD, ...get(j1), I32_ADD], get(f1)),
      ...fAccumulate([...get(5), ...get(j1), I32_ADD], get(f1)),
    ],
  );
  const body1 = [...u(3), ...u(6), I32, ...u(1), V128, ...u(1), F64, ...pass1, END];

  // pass2: locals 10–15 i32 (rowLoop's), 16–18 v128 (v, a, b), 19–21 f64 (the same, for the last column).
  const k2 = 12;
  const j2 = 13;
  const p2 = 15;
  const [v, a, b] = [16, 17, 18];
  const [fv, fa, fb] = [19, 20, 21];
  const cls = (base: number) => [...get(base), ...get(k2), I32_ADD, ...get(j2), I32_ADD];
  const col = (base: number) => [...get(base), ...get(j2), I32_ADD];
  const pass2 = rowLoop(
    10,
    [
      ...get(p2), ...V_LOAD64_ZERO, ...V_PROMOTE, ...set(v),
      ...get(v), ...cls(4), ...V_LOAD, ...V_SUB, ...set(a),
      ...vAccumulate(cls(6), get(a)),
      ...vAccumulate(cls(7), [...get(a), ...get(a), ...V_MUL]),
      ...get(v), ...col(5), ...V_LOAD, ...V_SUB, ...set(b),
      ...vAccumulate(col(8), get(b)),
      ...vAccumulate(col(9), [...get(b), ...get(b), ...V_MUL]),
    ],
    [
      ...get(p2), ...F32_LOAD, F64_PROMOTE, ...set(fv),
      ...get(fv), ...cls(4), ...F64_LOAD, F64_SUB, ...set(fa),
      ...fAccumulate(cls(6), get(fa)),
      ...fAccumulate(cls(7), [...get(fa), ...get(fa), F64_MUL]),
      ...get(fv), ...col(5), ...F64_LOAD, F64_SUB, ...set(fb),
      ...fAccumulate(col(8), get(fb)),
      ...fAccumulate(col(9), [...get(fb), ...get(fb), F64_MUL]),
    ],
  );
  const body2 = [...u(3), ...u(6), I32, ...u(3), V128, ...u(3), F64, ...pass2, END];

  // scores(x, n, d, C, ab, constant, out, n2, n1): locals 9–16 i32 (i, c, j, end8, o, k, p, q), 17–21 v128
  // (acc, v, nsq, nab, t), 22–23 f64 (s, w). Per row i: n2[i] = Σ x², n1[i] = Σ |x|, and per class c
  // out[i·C + c] = constant[c] + Σ_j x_j·(a_cj·x_j + b_cj), a then b the class's 2d coefficients in ab.
  const D = 2;
  const CL = 3;
  const [si, sc, sj, send, so, sk, sp, sq] = [9, 10, 11, 12, 13, 14, 15, 16];
  const [acc, sv, nsq, nab] = [17, 18, 19, 20];
  const [fs, fw] = [22, 23];
  const hsum = (l: number) => [...get(l), ...V_LANE(0), ...get(l), ...V_LANE(1), F64_ADD];
  const pairs = (body: number[]) => [
    ...i32(0), ...set(sj), ...get(so), ...set(sp),
    BLOCK, VOID, LOOP, VOID,
    ...get(sj), ...get(send), I32_GE_U, BR_IF, 1,
    ...get(sp), ...V_LOAD64_ZERO, ...V_PROMOTE, ...set(sv),
    ...body,
    ...get(sj), ...i32(16), I32_ADD, ...set(sj),
    ...get(sp), ...i32(8), I32_ADD, ...set(sp),
    BR, 0, END, END,
  ];
  const odd = (body: number[]) => [...get(D), ...i32(1), I32_AND, IF, VOID, ...get(sp), ...F32_LOAD, F64_PROMOTE, ...set(fw), ...body, END];
  const scores = [
    ...get(D), ...i32(-2), I32_AND, ...i32(3), I32_SHL, ...set(send),
    ...i32(0), ...set(si),
    BLOCK, VOID, LOOP, VOID,
    ...get(si), ...get(1), I32_GE_U, BR_IF, 1,
    ...get(0), ...get(si), ...get(D), I32_MUL, ...i32(2), I32_SHL, I32_ADD, ...set(so),
    // The norms.
    ...V_ZERO, ...set(nsq), ...V_ZERO, ...set(nab),
    ...pairs([...get(nsq), ...get(sv), ...get(sv), ...V_MUL, ...V_ADD, ...set(nsq), ...get(nab), ...get(sv), ...V_ABS, ...V_ADD, ...set(nab)]),
    ...hsum(nsq), ...set(fs),
    ...odd([...get(fs), ...get(fw), ...get(fw), F64_MUL, F64_ADD, ...set(fs)]),
    ...get(7), ...get(si), ...i32(3), I32_SHL, I32_ADD, ...get(fs), ...F64_STORE,
    ...hsum(nab), ...set(fs),
    ...odd([...get(fs), ...get(fw), F64_ABS, F64_ADD, ...set(fs)]),
    ...get(8), ...get(si), ...i32(3), I32_SHL, I32_ADD, ...get(fs), ...F64_STORE,
    // The classes.
    ...i32(0), ...set(sc),
    BLOCK, VOID, LOOP, VOID,
    ...get(sc), ...get(CL), I32_GE_U, BR_IF, 1,
    ...get(4), ...get(sc), ...get(D), I32_MUL, ...i32(4), I32_SHL, I32_ADD, ...set(sk),
    // q = k + 8·d: the class's b.
    ...get(sk), ...get(D), ...i32(3), I32_SHL, I32_ADD, ...set(sq),
    ...V_ZERO, ...set(acc),
    ...pairs([
      ...get(acc), ...get(sv),
      ...get(sk), ...get(sj), I32_ADD, ...V_LOAD, ...get(sv), ...V_MUL,
      ...get(sq), ...get(sj), I32_ADD, ...V_LOAD, ...V_ADD,
      ...V_MUL, ...V_ADD, ...set(acc),
    ]),
    ...hsum(acc), ...set(fs),
    ...odd([
      ...get(fs), ...get(fw),
      ...get(sk), ...get(sj), I32_ADD, ...F64_LOAD, ...get(fw), F64_MUL,
      ...get(sq), ...get(sj), I32_ADD, ...F64_LOAD, F64_ADD,
      F64_MUL, F64_ADD, ...set(fs),
    ]),
    // out[i·C + c] = constant[c] + s
    ...get(6), ...get(si), ...get(CL), I32_MUL, ...get(sc), I32_ADD, ...i32(3), I32_SHL, I32_ADD,
    ...get(5), ...get(sc), ...i32(3), I32_SHL, I32_ADD, ...F64_LOAD, ...get(fs), F64_ADD, ...F64_STORE,
    ...get(sc), ...i32(1), I32_ADD, ...set(sc),
    BR, 0, END, END,
    ...get(si), ...i32(1), I32_ADD, ...set(si),
    BR, 0, END, END,
  ];
  const body3 = [...u(3), ...u(8), I32, ...u(5), V128, ...u(2), F64, ...scores, END];
  void I32_LT_U;

  const section = (id: number, bytes: number[]) => [id, ...u(bytes.length), ...bytes];
  const str = (s: string) => [...u(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
  const fnType = (params: number) => [0x60, ...u(params), ...Array<number>(params).fill(I32), 0];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [...u(3), ...fnType(6), ...fnType(10), ...fnType(9)]),
    ...section(2, [...u(1), ...str('env'), ...str('memory'), 0x02, 0x00, ...u(1)]),
    ...section(3, [...u(3), 0, 1, 2]),
    ...section(7, [...u(3), ...str('pass1'), 0x00, 0, ...str('pass2'), 0x00, 1, ...str('scores'), 0x00, 2]),
    ...section(10, [...u(3), ...u(body1.length), ...body1, ...u(body2.length), ...body2, ...u(body3.length), ...body3]),
  ]);
}

/**
 * assembleModule()'s bytes, base64: what runs (assembling them at run time took 1.5–14 ms in a fresh process;
 * decoding and compiling these, well under one). test/naive-bayes-labels.test.ts checks they are assembleModule()'s.
 */
export const MODULE_BASE64 =
  'AGFzbQEAAAABIwNgBn9/f39/fwBgCn9/f39/f39/f38AYAl/f39/f39/f38AAg8BA2VudgZtZW1vcnkCAAEDBAMAAQIHGgMFcGFz' +
  'czEAAAVwYXNzMgABBnNjb3JlcwACCo8JA+sBAwZ/AXsBfCADQX5xQQN0IQpBACEGAkADQCAGIAJPDQEgACAGIANsQQJ0aiEHIAEg' +
  'BkECdGooAgAgA2xBA3QhCEEAIQkgByELAkADQCAJIApPDQEgC/1dAgD9XyEMIAQgCGogCWogBCAIaiAJav0AAwAgDP3wAf0LAwAg' +
  'BSAJaiAFIAlq/QADACAM/fAB/QsDACAJQRBqIQkgC0EIaiELDAALCyADQQFxBEAgCyoCALshDSAEIAhqIAlqIAQgCGogCWorAwAg' +
  'DaA5AwAgBSAJaiAFIAlqKwMAIA2gOQMACyAGQQFqIQYMAAsLC5sDAwZ/A3sDfCADQX5xQQN0IQ5BACEKAkADQCAKIAJPDQEgACAK' +
  'IANsQQJ0aiELIAEgCkECdGooAgAgA2xBA3QhDEEAIQ0gCyEPAkADQCANIA5PDQEgD/1dAgD9XyEQIBAgBCAMaiANav0AAwD98QEh' +
  'ESAGIAxqIA1qIAYgDGogDWr9AAMAIBH98AH9CwMAIAcgDGogDWogByAMaiANav0AAwAgESAR/fIB/fAB/QsDACAQIAUgDWr9AAMA' +
  '/fEBIRIgCCANaiAIIA1q/QADACAS/fAB/QsDACAJIA1qIAkgDWr9AAMAIBIgEv3yAf3wAf0LAwAgDUEQaiENIA9BCGohDwwACwsg' +
  'A0EBcQRAIA8qAgC7IRMgEyAEIAxqIA1qKwMAoSEUIAYgDGogDWogBiAMaiANaisDACAUoDkDACAHIAxqIA1qIAcgDGogDWorAwAg' +
  'FCAUoqA5AwAgEyAFIA1qKwMAoSEVIAggDWogCCANaisDACAVoDkDACAJIA1qIAkgDWorAwAgFSAVoqA5AwALIApBAWohCgwACwsL' +
  'ggQDCH8FewJ8IAJBfnFBA3QhDEEAIQkCQANAIAkgAU8NASAAIAkgAmxBAnRqIQ39DAAAAAAAAAAAAAAAAAAAAAAhE/0MAAAAAAAA' +
  'AAAAAAAAAAAAACEUQQAhCyANIQ8CQANAIAsgDE8NASAP/V0CAP1fIRIgEyASIBL98gH98AEhEyAUIBL97AH98AEhFCALQRBqIQsg' +
  'D0EIaiEPDAALCyAT/SEAIBP9IQGgIRYgAkEBcQRAIA8qAgC7IRcgFiAXIBeioCEWCyAHIAlBA3RqIBY5AwAgFP0hACAU/SEBoCEW' +
  'IAJBAXEEQCAPKgIAuyEXIBYgF5mgIRYLIAggCUEDdGogFjkDAEEAIQoCQANAIAogA08NASAEIAogAmxBBHRqIQ4gDiACQQN0aiEQ' +
  '/QwAAAAAAAAAAAAAAAAAAAAAIRFBACELIA0hDwJAA0AgCyAMTw0BIA/9XQIA/V8hEiARIBIgDiALav0AAwAgEv3yASAQIAtq/QAD' +
  'AP3wAf3yAf3wASERIAtBEGohCyAPQQhqIQ8MAAsLIBH9IQAgEf0hAaAhFiACQQFxBEAgDyoCALshFyAWIBcgDiALaisDACAXoiAQ' +
  'IAtqKwMAoKKgIRYLIAYgCSADbCAKakEDdGogBSAKQQN0aisDACAWoDkDACAKQQFqIQoMAAsLIAlBAWohCQwACwsL';

export interface WasmPasses {
  /** Pass 1: per-class column sums (classes × d) and column totals (d), in row order. */
  pass1(x: Float32Array, y: Int32Array, n: number, d: number, classes: number): { sum: Float64Array; total: Float64Array };
  /** Pass 2 over the same rows: sums of deviations and squared deviations from the class means and from the column means. */
  pass2(mean: Float64Array, totalMean: Float64Array): { s1: Float64Array; s2: Float64Array; t1: Float64Array; t2: Float64Array };
}

let compiled: WebAssembly.Module | null | undefined;

function module(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(Uint8Array.from(atob(MODULE_BASE64), (ch) => ch.charCodeAt(0)));
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** Rows per call: blocks of about 256 kB are copied into the module's memory (no copy of the whole matrix). */
const BLOCK_BYTES = 1 << 18;

/** Both passes over one training set, or undefined without WebAssembly SIMD. */
export function wasmPasses(): WasmPasses | undefined {
  if (typeof WebAssembly === 'undefined') return undefined;
  const m = module();
  if (!m) return undefined;
  const memory = new WebAssembly.Memory({ initial: 1 });
  const exports = new WebAssembly.Instance(m, { env: { memory } }).exports as {
    pass1: (...a: number[]) => void;
    pass2: (...a: number[]) => void;
  };
  let data: { x: Float32Array; n: number; d: number; classes: number; block: number; yAt: number; next: number } | undefined;
  const alloc = (bytes: number) => {
    const at = data!.next;
    data!.next = at + Math.ceil(bytes / 16) * 16;
    return at;
  };
  const zeros = (at: number, length: number) => new Float64Array(memory.buffer, at, length).fill(0);
  /** Runs `pass` over the rows a block at a time (the block's rows copied to address 0; its labels at yAt + 4·r0). */
  const blocks = (pass: (rows: number, y: number) => void) => {
    const { x, n, d, block, yAt } = data!;
    const view = new Float32Array(memory.buffer, 0, block * d);
    for (let r0 = 0; r0 < n; r0 += block) {
      const rows = Math.min(block, n - r0);
      view.set(x.subarray(r0 * d, (r0 + rows) * d));
      pass(rows, yAt + 4 * r0);
    }
  };
  return {
    pass1(x, y, n, d, classes) {
      const block = Math.max(1, Math.floor(BLOCK_BYTES / (4 * d)));
      const yAt = Math.ceil((block * d * 4) / 16) * 16;
      data = { x, n, d, classes, block, yAt, next: yAt + Math.ceil((n * 4) / 16) * 16 };
      // Room for the block, the labels and every array of both passes.
      const end = data.next + (4 * classes * d + 4 * d) * 8 + 16 * 8;
      if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
      new Int32Array(memory.buffer, yAt, n).set(y.subarray(0, n));
      const sum = alloc(classes * d * 8);
      const total = alloc(d * 8);
      zeros(sum, classes * d);
      zeros(total, d);
      blocks((rows, yBlock) => exports.pass1(0, yBlock, rows, d, sum, total));
      return { sum: new Float64Array(memory.buffer, sum, classes * d).slice(), total: new Float64Array(memory.buffer, total, d).slice() };
    },
    pass2(mean, totalMean) {
      const { d, classes } = data!;
      const at = data!.next;
      const meanAt = alloc(classes * d * 8);
      const tmAt = alloc(d * 8);
      const s1 = alloc(classes * d * 8);
      const s2 = alloc(classes * d * 8);
      const t1 = alloc(d * 8);
      const t2 = alloc(d * 8);
      new Float64Array(memory.buffer, meanAt, classes * d).set(mean);
      new Float64Array(memory.buffer, tmAt, d).set(totalMean);
      zeros(s1, classes * d);
      zeros(s2, classes * d);
      zeros(t1, d);
      zeros(t2, d);
      blocks((rows, yBlock) => exports.pass2(0, yBlock, rows, d, meanAt, tmAt, s1, s2, t1, t2));
      const out = {
        s1: new Float64Array(memory.buffer, s1, classes * d).slice(),
        s2: new Float64Array(memory.buffer, s2, classes * d).slice(),
        t1: new Float64Array(memory.buffer, t1, d).slice(),
        t2: new Float64Array(memory.buffer, t2, d).slice(),
      };
      data!.next = at;
      return out;
    },
  };
}

/**
 * Gaussian NB's quadratic form (models/naive-bayes.ts, labelsTyped) for the rows of `x`: per row and class
 * constant[c] + Σ_j x_j·(a_cj·x_j + b_cj) (`ab`: per class, a then b, d values each), and each row's Σ x² and
 * Σ |x| (its rounding bound's norms), two columns per f64x2 operation; the rows are copied in blocks of about
 * 256 kB. Undefined without WebAssembly SIMD (labelsTyped's JS loops run then).
 */
let quadratic: { memory: WebAssembly.Memory; run: (...a: number[]) => void } | undefined;

export function wasmQuadratic(ab: Float64Array, constant: Float64Array, x: Float32Array, n: number, d: number): { values: Float64Array; n2: Float64Array; n1: Float64Array } | undefined {
  if (typeof WebAssembly === 'undefined') return undefined;
  const m = module();
  if (!m) return undefined;
  const C = constant.length;
  const block = Math.max(1, Math.floor(BLOCK_BYTES / (4 * d)));
  const abAt = Math.ceil((block * d * 4) / 16) * 16;
  const constAt = abAt + Math.ceil((ab.length * 8) / 16) * 16;
  const outAt = constAt + Math.ceil((C * 8) / 16) * 16;
  const n2At = outAt + Math.ceil((block * C * 8) / 16) * 16;
  const n1At = n2At + Math.ceil((block * 8) / 16) * 16;
  const end = n1At + block * 8;
  // One instance for every call (grown as needed): making one costs ~20 µs, more than a few rows' form.
  quadratic ??= (() => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    return { memory, run: (new WebAssembly.Instance(m, { env: { memory } }).exports as { scores: (...a: number[]) => void }).scores };
  })();
  const { memory, run } = quadratic;
  if (end > memory.buffer.byteLength) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
  new Float64Array(memory.buffer, abAt, ab.length).set(ab);
  new Float64Array(memory.buffer, constAt, C).set(constant);
  const view = new Float32Array(memory.buffer, 0, block * d);
  const values = new Float64Array(n * C);
  const n2 = new Float64Array(n);
  const n1 = new Float64Array(n);
  for (let r0 = 0; r0 < n; r0 += block) {
    const rows = Math.min(block, n - r0);
    view.set(x.subarray(r0 * d, (r0 + rows) * d));
    run(0, rows, d, C, abAt, constAt, outAt, n2At, n1At);
    values.set(new Float64Array(memory.buffer, outAt, rows * C), r0 * C);
    n2.set(new Float64Array(memory.buffer, n2At, rows), r0);
    n1.set(new Float64Array(memory.buffer, n1At, rows), r0);
  }
  return { values, n2, n1 };
}
