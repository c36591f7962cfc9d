/**
 * exp and log as ONNX nodes that give JavaScript's Math.exp and Math.log bit for bit: V8 computes them
 * with fdlibm's algorithms (v8/src/base/ieee754.cc, __ieee754_exp and __ieee754_log), and so do these,
 * step by step in float64, where onnxruntime's own Exp and Log differ from them in the last bit for about
 * one value in ten. The export needs that where a comparison decides: a bundle's "unsure" threshold is
 * one of the calibrated confidences, and rows often sit exactly on it. The high word of a double that
 * fdlibm reads is found without bit casts (ONNX has none): the exponent from Log2 corrected by exact
 * powers of two, the top 20 mantissa bits as floor((m − 1)·2²⁰), and its comparisons against high-word
 * constants as comparisons against the doubles whose high word they are.
 */
import type { GraphBuilder } from '@digitbench/runtime/internal';
import { f64, type Names } from './onnx-features.ts';

/** The double whose high word is `hi` and low word 0. */
function fromHigh(hi: number): number {
  const v = new DataView(new ArrayBuffer(8));
  v.setUint32(0, hi >>> 0);
  v.setUint32(4, 0);
  return v.getFloat64(0);
}

type Op = (type: string, inputs: string[], attributes?: Record<string, number>) => string;

function ops(g: GraphBuilder, names: Names): { op: Op; c: (v: number) => string } {
  return {
    op: (type, inputs, attributes = {}) => g.node(type, inputs, [names.next(`m_${type.toLowerCase()}`)], attributes),
    c: (v) => f64(g, names, 'm_c', [v], []),
  };
}

/** Math.exp of every value of a float64 tensor (fdlibm __ieee754_exp). */
export function expNodes(g: GraphBuilder, names: Names, x: string): string {
  const { op, c } = ops(g, names);
  const where = (cond: string, a: string, b: string) => op('Where', [cond, a, b]);
  const ax = op('Abs', [x]);
  const negative = op('Less', [x, c(0)]);
  // |x| > 0.5·ln2 (hx > 0x3FD62E42) and |x| < 1.5·ln2 (hx < 0x3FF0A2B2); |x| < 2⁻²⁸ (hx < 0x3E300000).
  const reduce = op('GreaterOrEqual', [ax, c(fromHigh(0x3fd62e43))]);
  const near = op('Less', [ax, c(fromHigh(0x3ff0a2b2))]);
  const tiny = op('Less', [ax, c(fromHigh(0x3e300000))]);
  const ln2HI = 6.93147180369123816490e-1;
  const ln2LO = 1.90821492927058770002e-10;
  // Near: hi = x − ±ln2HI, lo = ±ln2LO, k = ±1.
  const kNear = where(negative, c(-1), c(1));
  const hiNear = op('Sub', [x, where(negative, c(-ln2HI), c(ln2HI))]);
  const loNear = where(negative, c(-ln2LO), c(ln2LO));
  // Far: k = (int)(invln2·x ± 0.5) (truncated), hi = x − k·ln2HI, lo = k·ln2LO.
  const kFar = op('Cast', [op('Cast', [op('Add', [op('Mul', [c(1.4426950408889634), x]), where(negative, c(-0.5), c(0.5))])], { to: 7 })], { to: 11 });
  const hiFar = op('Sub', [x, op('Mul', [kFar, c(ln2HI)])]);
  const loFar = op('Mul', [kFar, c(ln2LO)]);
  const k = where(reduce, where(near, kNear, kFar), c(0));
  const hi = where(near, hiNear, hiFar);
  const lo = where(near, loNear, loFar);
  const r = where(reduce, op('Sub', [hi, lo]), x);
  const t = op('Mul', [r, r]);
  // c = r − t·(P1 + t·(P2 + t·(P3 + t·(P4 + t·P5))))
  let p = c(4.13813679705723846039e-8);
  for (const coef of [-1.65339022054652515390e-6, 6.61375632143793436117e-5, -2.77777777770155933842e-3, 1.66666666666666019037e-1]) p = op('Add', [c(coef), op('Mul', [t, p])]);
  const cc = op('Sub', [r, op('Mul', [t, p])]);
  const one = c(1);
  const xc = op('Mul', [r, cc]);
  // k = 0: 1 − ((x·c)/(c − 2) − x); else y = 1 − ((lo − (x·c)/(2 − c)) − hi), times 2^k.
  const y0 = op('Sub', [one, op('Sub', [op('Div', [xc, op('Sub', [cc, c(2)])]), r])]);
  const y = op('Sub', [one, op('Sub', [op('Sub', [lo, op('Div', [xc, op('Sub', [c(2), cc])])]), hi])]);
  const lowK = op('Less', [k, c(-1021)]);
  const twopk = op('Pow', [c(2), where(lowK, op('Add', [k, c(1000)]), k)]);
  const scaled = where(lowK, op('Mul', [op('Mul', [y, twopk]), c(9.33263618503218878990e-302)]), where(op('Equal', [k, c(1024)]), op('Mul', [op('Mul', [y, c(2)]), c(8.988465674311579539e307)]), op('Mul', [y, twopk])));
  let out = where(op('Equal', [k, c(0)]), y0, scaled);
  out = where(op('And', [tiny, op('Not', [reduce])]), op('Add', [one, x]), out);
  out = where(op('Equal', [x, one]), c(Math.E), out);
  // Out of range: above 709.78… overflows, below −745.13… underflows.
  out = where(op('Greater', [x, c(7.09782712893383973096e2)]), c(Infinity), out);
  return where(op('Less', [x, c(-7.45133219101941108420e2)]), c(0), out);
}

/** Math.log of every value of a float64 tensor of positive normal numbers (fdlibm __ieee754_log). */
export function logNodes(g: GraphBuilder, names: Names, x: string): string {
  const { op, c } = ops(g, names);
  const where = (cond: string, a: string, b: string) => op('Where', [cond, a, b]);
  // The exponent e (x = m·2^e, 1 ≤ m < 2), exactly: floor(log2 x), corrected by one either way.
  let e = op('Floor', [op('Div', [op('Log', [x]), c(Math.LN2)])]);
  e = where(op('Greater', [op('Pow', [c(2), e]), x]), op('Sub', [e, c(1)]), e);
  e = where(op('LessOrEqual', [op('Pow', [c(2), op('Add', [e, c(1)])]), x]), op('Add', [e, c(1)]), e);
  const m = op('Div', [x, op('Pow', [c(2), e])]);
  // hx & 0xfffff: the top 20 bits of the mantissa.
  const hx = op('Floor', [op('Mul', [op('Sub', [m, c(1)]), c(2 ** 20)])]);
  // i = (hx + 0x95f64) & 0x100000: normalize x to [√2/2, √2): x/2 and k + 1 when m is past it.
  const up = op('GreaterOrEqual', [hx, c(0x100000 - 0x95f64)]);
  const k = where(up, op('Add', [e, c(1)]), e);
  const f = op('Sub', [where(up, op('Mul', [m, c(0.5)]), m), c(1)]);
  const ln2Hi = 6.93147180369123816490e-1;
  const ln2Lo = 1.90821492927058770002e-10;
  const dkHi = op('Mul', [k, c(ln2Hi)]);
  const dkLo = op('Mul', [k, c(ln2Lo)]);
  const k0 = op('Equal', [k, c(0)]);
  // |f| < 2⁻²⁰: ((2 + hx) & 0xfffff) < 3.
  const small = op('Or', [op('Equal', [hx, c(0)]), op('GreaterOrEqual', [hx, c(0xffffe)])]);
  const fZero = op('Equal', [f, c(0)]);
  const smallZero = where(k0, c(0), op('Add', [dkHi, dkLo]));
  const R0 = op('Mul', [op('Mul', [f, f]), op('Sub', [c(0.5), op('Mul', [c(0.33333333333333333), f])])]);
  const smallOut = where(fZero, smallZero, where(k0, op('Sub', [f, R0]), op('Sub', [dkHi, op('Sub', [op('Sub', [R0, dkLo]), f])])));
  const s = op('Div', [f, op('Add', [c(2), f])]);
  const z = op('Mul', [s, s]);
  const w = op('Mul', [z, z]);
  const Lg = [6.666666666666735130e-1, 3.999999999940941908e-1, 2.857142874366239149e-1, 2.222219843214978396e-1, 1.818357216161805012e-1, 1.531383769920937332e-1, 1.479819860511658591e-1];
  // t1 = w·(Lg2 + w·(Lg4 + w·Lg6)), t2 = z·(Lg1 + w·(Lg3 + w·(Lg5 + w·Lg7))).
  const t1 = op('Mul', [w, op('Add', [c(Lg[1]!), op('Mul', [w, op('Add', [c(Lg[3]!), op('Mul', [w, c(Lg[5]!)])])])])]);
  const t2 = op('Mul', [z, op('Add', [c(Lg[0]!), op('Mul', [w, op('Add', [c(Lg[2]!), op('Mul', [w, op('Add', [c(Lg[4]!), op('Mul', [w, c(Lg[6]!)])])])])])])]);
  const R = op('Add', [t2, t1]);
  // i | j > 0 with i = hx − 0x6147a, j = 0x6b851 − hx: 0x6147a ≤ hx ≤ 0x6b851.
  const mid = op('And', [op('GreaterOrEqual', [hx, c(0x6147a)]), op('LessOrEqual', [hx, c(0x6b851)])]);
  const hfsq = op('Mul', [op('Mul', [c(0.5), f]), f]);
  const midOut = where(
    k0,
    op('Sub', [f, op('Sub', [hfsq, op('Mul', [s, op('Add', [hfsq, R])])])]),
    op('Sub', [dkHi, op('Sub', [op('Sub', [hfsq, op('Add', [op('Mul', [s, op('Add', [hfsq, R])]), dkLo])]), f])]),
  );
  const sfR = op('Mul', [s, op('Sub', [f, R])]);
  const restOut = where(k0, op('Sub', [f, sfR]), op('Sub', [dkHi, op('Sub', [op('Sub', [sfR, dkLo]), f])]));
  return where(small, smallOut, where(mid, midOut, restOut));
}
