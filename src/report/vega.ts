/**
 * The report's charts as Vega-Lite / Vega specs, rendered to SVG headlessly by vega's `toSVG()` (no
 * browser, no canvas: vega estimates text widths). Data is inlined; the loader refuses every URL and
 * file, so a spec cannot fetch. Same data → same SVG bytes (no dates, no random ids: the ids vega
 * numbers from a process-wide counter are renumbered per chart).
 *
 * Every function takes accuracies as fractions (0..1) and shows them as percentages with one decimal
 * (97.2); the accuracy–coverage chart, whose curves run up to 100%, with two (99.46).
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';

const FONT = 'Helvetica, Arial, sans-serif';
/** The plot area of the x–y charts, in px (legends, axes and titles come on top). */
const W = 560;
const H = 360;
/** Font size of point labels, px. */
const LABEL_PX = 11;

/** Vega config (raw Vega specs): one font everywhere, white background (legible in dark viewers too). */
const vegaConfig: vega.Config = {
  background: '#ffffff',
  text: { font: FONT },
  title: { font: FONT, subtitleFont: FONT, fontSize: 14, subtitleFontSize: 11, subtitleColor: '#555' },
  axis: { labelFont: FONT, titleFont: FONT, labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFont: FONT, titleFont: FONT, labelFontSize: 11, titleFontSize: 11 },
};

/** Vega-Lite config. */
const vlConfig = {
  font: FONT,
  background: '#ffffff',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 11 },
  title: { fontSize: 14, subtitleFontSize: 11, subtitleColor: '#555' },
};

/** A loader that loads nothing (data must be in the spec); it notes what was asked for in `refused`. */
function noLoader(refused: string[]): vega.Loader {
  const refuse = (what: string) => (uri: unknown) => {
    refused.push(`${what} ${typeof uri === 'string' ? uri : JSON.stringify(uri)}`);
    return Promise.reject(new Error(`report charts inline their data; no ${what}`));
  };
  return { load: refuse('loading'), sanitize: refuse('loading'), http: refuse('http'), file: refuse('file') } as unknown as vega.Loader;
}

/**
 * Ids vega numbers from process-wide counters (gradients, clip paths: `id="gradient_7"`, `url(#clip3)`),
 * renumbered in order of appearance, so a chart's bytes do not depend on what was rendered before.
 */
function stableIds(svg: string): string {
  const ids = new Map<string, string>();
  const count = new Map<string, number>();
  return svg.replace(/(id="|url\(#)(gradient_|clip|pattern_)(\d+)(?=[")])/g, (_m, ctx: string, prefix: string, n: string) => {
    const key = prefix + n;
    let id = ids.get(key);
    if (id === undefined) {
      const i = count.get(prefix) ?? 0;
      count.set(prefix, i + 1);
      id = `${prefix}${i}`;
      ids.set(key, id);
    }
    return ctx + id;
  });
}

/**
 * Renders a Vega spec to a standalone SVG document (XML declaration, then `<svg …>`). Warnings are
 * silenced (the logger's level is Error); an error vega reports while running the dataflow — which it
 * would otherwise only log — rejects the promise.
 */
export async function vegaSvg(spec: vega.Spec): Promise<string> {
  const errors: unknown[] = [];
  const refused: string[] = [];
  const logger = vega.logger(vega.Error, 'error', (_method, _level, args) => void errors.push(args));
  const view = new vega.View(vega.parse(spec), { renderer: 'none', loader: noLoader(refused), logger, logLevel: vega.Error });
  try {
    const svg = await view.toSVG();
    // vega only warns when a load fails, and draws the chart without the data: fail instead.
    if (refused.length) throw new Error(`report charts inline their data; no loading (${refused[0]})`);
    if (errors.length) {
      const first = (errors[0] as unknown[]).map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
      throw new Error(`vega: ${first}`);
    }
    return `<?xml version="1.0" encoding="UTF-8"?>\n${stableIds(svg)}`;
  } finally {
    view.finalize();
  }
}

/** Compiles a Vega-Lite spec (with the report's config) and renders it to SVG. */
export async function vegaLiteSvg(spec: vl.TopLevelSpec): Promise<string> {
  const logger = vega.logger(vega.None);
  return vegaSvg(vl.compile({ config: vlConfig, ...spec } as vl.TopLevelSpec, { logger }).spec);
}

/** A fraction as a percentage rounded to one decimal: 0.9723 → 97.2. */
const pct1 = (x: number) => Math.round(x * 1000) / 10;
/** Text as it goes into a chart: no control characters (they are not allowed in XML). */
const clean = (s: string) => String(s).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');
/** Estimated text width at LABEL_PX: Helvetica averages about 0.55 em per character; 0.6 em errs wide. */
const textWidth = (s: string) => s.length * LABEL_PX * 0.6;

export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

const overlaps = (a: Box, b: Box) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

export interface PlacedLabel {
  /** Offset of the text anchor from the point, px. */
  dx: number;
  dy: number;
  align: 'left' | 'right' | 'center';
  baseline: 'top' | 'middle' | 'bottom';
  /** The label's estimated box in plot pixels. */
  box: Box;
}

/** Radius of the point symbols (size 64 → r = 4) plus half their stroke, rounded up, px. */
const DOT_R = 5;
/** Distances from a point its label may sit at, px, nearest first; beyond the first a leader line joins them. */
const RINGS = [7, 16, 28, 42];

/**
 * Where each point's label goes, in plot pixels (origin top left). Each label tries 32 positions: right,
 * left, above, below and the four diagonals, close to its point and then further out (RINGS). It takes
 * the first that overlaps no other label and no point (each point a box of ±5 px), nor an `obstacle`,
 * and stays inside the plot; failing that, the first that is clear but pokes out of the plot; failing
 * that, the one with the fewest overlaps. Soft obstacles (lines: a reference rule, the Pareto staircase)
 * decide between positions at the same distance only: a label may cross a line rather than move away.
 * Points are labelled from the top of the plot down, left to right, so the result depends only on the
 * positions.
 *
 * Why not vega's `label` transform: it finds marks to avoid by drawing them into a canvas (node-canvas),
 * which this headless setup does not have — with `avoidMarks`, or on a text mark over a symbol mark, it
 * fails; without them it avoids only each point's centre pixel and hides a label it cannot place. This is
 * the same search (anchors × offsets, first fit) on estimated boxes, and never drops a label.
 */
export function placeLabels(
  points: readonly { x: number; y: number; text: string }[],
  width: number,
  height: number,
  opts: { obstacles?: readonly Box[]; soft?: readonly Box[] } = {},
): PlacedLabel[] {
  const dots: Box[] = points.map((p) => ({ x0: p.x - DOT_R, y0: p.y - DOT_R, x1: p.x + DOT_R, y1: p.y + DOT_R }));
  const taken: Box[] = [...(opts.obstacles ?? [])];
  const soft = opts.soft ?? [];
  const h = LABEL_PX + 2;
  const out = new Array<PlacedLabel>(points.length);
  const order = points.map((_, i) => i).sort((a, b) => points[a]!.y - points[b]!.y || points[a]!.x - points[b]!.x || a - b);
  for (const i of order) {
    const p = points[i]!;
    const w = textWidth(p.text);
    const candidates = RINGS.flatMap((d, ring) => {
      const q = Math.round(d * 0.75);
      return (
        [
          { dx: d, dy: 0, align: 'left', baseline: 'middle' },
          { dx: -d, dy: 0, align: 'right', baseline: 'middle' },
          { dx: 0, dy: -d, align: 'center', baseline: 'bottom' },
          { dx: 0, dy: d, align: 'center', baseline: 'top' },
          { dx: q, dy: -q, align: 'left', baseline: 'bottom' },
          { dx: -q, dy: -q, align: 'right', baseline: 'bottom' },
          { dx: q, dy: q, align: 'left', baseline: 'top' },
          { dx: -q, dy: q, align: 'right', baseline: 'top' },
        ] as const
      ).map((o) => ({ ...o, ring }));
    });
    const scored = candidates.map((o, index) => {
      const x0 = o.align === 'left' ? p.x + o.dx : o.align === 'right' ? p.x + o.dx - w : p.x - w / 2;
      const y0 = o.baseline === 'middle' ? p.y - h / 2 : o.baseline === 'bottom' ? p.y + o.dy - h : p.y + o.dy;
      const box = { x0, y0, x1: x0 + w, y1: y0 + h };
      const hits = taken.filter((t) => overlaps(t, box)).length + dots.filter((d, j) => j !== i && overlaps(d, box)).length + (overlaps(dots[i]!, box) ? 1 : 0);
      const outside = box.x0 < 0 || box.y0 < 0 || box.x1 > width || box.y1 > height ? 1 : 0;
      const softHits = soft.filter((s) => overlaps(s, box)).length;
      return { placed: { ...o, box }, key: [hits, outside, o.ring, softHits, index] };
    });
    const byKey = (a: { key: number[] }, b: { key: number[] }) => a.key.reduce((d, k, j) => d || k - b.key[j]!, 0);
    scored.sort(byKey);
    const pick = scored[0]!.placed;
    taken.push(pick.box);
    out[i] = { dx: pick.dx, dy: pick.dy, align: pick.align, baseline: pick.baseline, box: pick.box };
  }
  return out;
}

export interface LatencyPoint {
  label: string;
  latencyMs: number;
  /** 0..1 */
  accuracy: number;
  pareto?: boolean;
}

/**
 * Accuracy (%) against end-to-end latency per image (ms, log x). Pareto points are filled and joined by
 * a staircase; `maxLatencyMs` is drawn as a dashed rule. Every point gets its label, placed by
 * `placeLabels` clear of the other labels and points. The axes' domains are fixed here (not "nice"), so
 * the pixel positions the labels are placed at are exactly where vega draws the points.
 */
export async function accuracyLatencyChart(points: readonly LatencyPoint[], opts: { maxLatencyMs?: number; title?: string; yTitle?: string } = {}): Promise<string> {
  const values = points
    .filter((p) => p.latencyMs > 0 && Number.isFinite(p.latencyMs) && Number.isFinite(p.accuracy))
    .map((p) => ({ label: clean(p.label), latency: p.latencyMs, accuracy: pct1(p.accuracy), pareto: !!p.pareto }));
  const front = values.filter((v) => v.pareto).sort((a, b) => a.latency - b.latency || a.accuracy - b.accuracy);
  const limit = opts.maxLatencyMs !== undefined && opts.maxLatencyMs > 0 && Number.isFinite(opts.maxLatencyMs) ? opts.maxLatencyMs : undefined;
  const lats = values.map((v) => v.latency).concat(limit ?? []);
  const accs = values.map((v) => v.accuracy);
  const xDomain: [number, number] = lats.length ? [Math.min(...lats) / 1.6, Math.max(...lats) * 1.6] : [0.01, 10];
  const yDomain: [number, number] = accs.length ? [Math.max(0, Math.floor(Math.min(...accs) - 2)), Math.min(100, Math.ceil(Math.max(...accs) + 1))] : [0, 100];
  if (yDomain[1] - yDomain[0] < 2) yDomain[0] = Math.max(0, yDomain[1] - 2);
  const px = (latency: number) => (W * (Math.log(latency) - Math.log(xDomain[0]))) / (Math.log(xDomain[1]) - Math.log(xDomain[0]));
  const py = (accuracy: number) => H - (H * (accuracy - yDomain[0])) / (yDomain[1] - yDomain[0]);
  const limitText = limit !== undefined ? `limit ${limit} ms` : '';
  const limitBox: Box | undefined = limit !== undefined ? { x0: px(limit) + 2, y0: 0, x1: px(limit) + 4 + textWidth(limitText), y1: LABEL_PX + 4 } : undefined;
  // The staircase (step-after: across at a point's accuracy to the next point's latency, then up) as thin boxes.
  const stairs: Box[] = front.slice(1).flatMap((b, i) => {
    const a = front[i]!;
    const [xa, xb, ya, yb] = [px(a.latency), px(b.latency), py(a.accuracy), py(b.accuracy)];
    return [
      { x0: Math.min(xa, xb), y0: ya - 1.5, x1: Math.max(xa, xb), y1: ya + 1.5 },
      { x0: xb - 1.5, y0: Math.min(ya, yb), x1: xb + 1.5, y1: Math.max(ya, yb) },
    ];
  });
  const placed = placeLabels(
    values.map((v) => ({ x: px(v.latency), y: py(v.accuracy), text: v.label })),
    W,
    H,
    { obstacles: limitBox ? [limitBox] : [], soft: [...stairs, ...(limit !== undefined ? [{ x0: px(limit) - 1, y0: 0, x1: px(limit) + 1, y1: H }] : [])] },
  );
  const labelled = values.map((v, i) => {
    const { dx, dy, align, baseline } = placed[i]!;
    return { ...v, dx, dy, align, baseline };
  });
  // A label placed beyond the first ring is joined to its point: from the symbol's edge to the box's nearest point.
  const leaders = values.flatMap((v, i) => {
    const { dx, dy, box } = placed[i]!;
    if (Math.max(Math.abs(dx), Math.abs(dy)) <= RINGS[0]!) return [];
    const [x, y] = [px(v.latency), py(v.accuracy)];
    const [x2, y2] = [Math.min(Math.max(x, box.x0), box.x1), Math.min(Math.max(y, box.y0), box.y1)];
    const d = Math.hypot(x2 - x, y2 - y);
    if (d <= DOT_R + 2) return [];
    return [{ x: x + ((x2 - x) * DOT_R) / d, y: y + ((y2 - y) * DOT_R) / d, x2, y2 }];
  });
  const subtitle = [front.length ? 'filled, joined: the Pareto set' : '', limit !== undefined ? `dashed: the latency limit (${limit} ms)` : ''].filter(Boolean).join('; ');
  const spec: vega.Spec = {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: W,
    height: H,
    padding: 8,
    autosize: 'pad',
    config: vegaConfig,
    title: { text: clean(opts.title ?? 'Accuracy vs end-to-end latency per image'), ...(subtitle ? { subtitle } : {}) },
    data: [
      { name: 'points', values: labelled },
      { name: 'front', values: front },
      { name: 'limit', values: limit !== undefined ? [{ latency: limit, text: limitText }] : [] },
      { name: 'leaders', values: leaders },
    ],
    scales: [
      { name: 'x', type: 'log', domain: xDomain, range: 'width', nice: false, zero: false },
      { name: 'y', type: 'linear', domain: yDomain, range: 'height', nice: false, zero: false },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'latency per image, ms (log scale; bundle, end to end)', grid: true, gridColor: '#eee', format: '~g' },
      { orient: 'left', scale: 'y', title: clean(opts.yTitle ?? 'test accuracy, %'), grid: true, gridColor: '#eee', format: '~f' },
    ],
    marks: [
      {
        type: 'rule',
        name: 'limit-rule',
        from: { data: 'limit' },
        encode: { enter: { x: { scale: 'x', field: 'latency' }, y: { value: 0 }, y2: { signal: 'height' }, stroke: { value: '#888' }, strokeDash: { value: [4, 3] } } },
      },
      {
        type: 'text',
        name: 'limit-label',
        from: { data: 'limit' },
        encode: { enter: { x: { scale: 'x', field: 'latency', offset: 3 }, y: { value: 2 }, text: { field: 'text' }, align: { value: 'left' }, baseline: { value: 'top' }, fontSize: { value: LABEL_PX }, fill: { value: '#666' } } },
      },
      {
        type: 'line',
        name: 'front-line',
        from: { data: 'front' },
        encode: { enter: { x: { scale: 'x', field: 'latency' }, y: { scale: 'y', field: 'accuracy' }, interpolate: { value: 'step-after' }, stroke: { value: '#d62728' }, strokeWidth: { value: 1.5 }, strokeDash: { value: [5, 3] } } },
      },
      {
        type: 'rule',
        name: 'label-leaders',
        from: { data: 'leaders' },
        encode: { enter: { x: { field: 'x' }, y: { field: 'y' }, x2: { field: 'x2' }, y2: { field: 'y2' }, stroke: { value: '#999' }, strokeWidth: { value: 0.75 } } },
      },
      {
        type: 'symbol',
        name: 'point-symbols',
        from: { data: 'points' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'latency' },
            y: { scale: 'y', field: 'accuracy' },
            size: { value: 64 },
            fill: { signal: "datum.pareto ? '#d62728' : '#ffffff'" },
            stroke: { signal: "datum.pareto ? '#d62728' : '#1f77b4'" },
            strokeWidth: { value: 1.5 },
          },
        },
      },
      {
        type: 'text',
        name: 'point-labels',
        from: { data: 'points' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'latency', offset: { field: 'dx' } },
            y: { scale: 'y', field: 'accuracy', offset: { field: 'dy' } },
            align: { field: 'align' },
            baseline: { field: 'baseline' },
            text: { field: 'label' },
            fontSize: { value: LABEL_PX },
            fill: { value: '#222' },
          },
        },
      },
    ],
  };
  return vegaSvg(spec);
}

/** Relative luminance (WCAG) of a #rrggbb colour. */
function luminance(hex: string): number {
  const n = Number.parseInt(hex.slice(1), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

const DARK = '#1a1a1a';
const contrast = (a: string, b: string) => {
  const [x, y] = [luminance(a), luminance(b)];
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
};
const hex = (n: number) => `#${n.toString(16).padStart(6, '0')}`;
/** `fill` mixed towards `to` (#rrggbb) by f (0..1). */
function mix(fill: string, to: string, f: number): string {
  const a = Number.parseInt(fill.slice(1), 16);
  const b = Number.parseInt(to.slice(1), 16);
  const c = (shift: number) => Math.round(((a >> shift) & 255) * (1 - f) + ((b >> shift) & 255) * f);
  return hex((c(16) << 16) | (c(8) << 8) | c(0));
}

/**
 * A cell colour and its text colour, dark or white, whichever contrasts more; a mid-tone where neither
 * reaches 4.5:1 (WCAG AA for small text) is lightened or darkened until it does.
 */
function cellInk(fill: string): { fill: string; ink: string } {
  const ink = contrast(fill, DARK) >= contrast(fill, '#ffffff') ? DARK : '#ffffff';
  let f = fill;
  for (let i = 1; i <= 20 && contrast(f, ink) < 4.5; i++) f = mix(fill, ink === DARK ? '#ffffff' : '#000000', i * 0.05);
  return { fill: f, ink };
}

/**
 * Colour of a cell at `t` (0..1) along a sequential ramp, as #rrggbb, computed here rather than by a
 * vega scale so the text colour can be chosen against the exact cell colour.
 */
function ramp(stops: readonly string[], t: number): string {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  const f = u - i;
  return mix(stops[i]!, stops[i + 1]!, f);
}
const ORANGES = ['#fff5eb', '#fdd0a2', '#fd8d3c', '#d94801', '#7f2704'];
const BLUES = ['#f7fbff', '#c6dbef', '#6baed6', '#2171b5', '#08306b'];
const DIAGONAL = '#e4e9ee';

/**
 * Confusion matrix heatmap: rows the true class, columns the predicted, each cell its count. The
 * off-diagonal cells (the errors) are shaded on their own scale — the diagonal would wash them out —
 * and the diagonal is a flat grey-blue; every count is written in dark or white, whichever contrasts
 * with its cell; empty cells are white with a dot.
 */
export async function confusionChart(cm: { labels: readonly number[]; counts: readonly (readonly number[])[] }, opts: { title: string; classNames?: readonly string[] }): Promise<string> {
  const name = (l: number) => clean(opts.classNames?.[l] ?? String(l));
  const order = cm.labels.map(name);
  const max = Math.max(1, ...cm.counts.flatMap((row, t) => row.filter((_, p) => p !== t)));
  const values = cm.counts.flatMap((row, t) =>
    row.map((count, p) => {
      const { fill, ink } = cellInk(t === p ? DIAGONAL : count === 0 ? '#ffffff' : ramp(ORANGES, 0.15 + (0.85 * count) / max));
      return { actual: order[t] ?? String(t), predicted: order[p] ?? String(p), count, text: count === 0 ? '·' : String(count), fill, ink: count === 0 ? '#999999' : ink };
    }),
  );
  const named = !!opts.classNames;
  const cell = Math.max(26, Math.min(40, Math.floor(400 / Math.max(1, order.length))));
  return vegaLiteSvg({
    title: { text: clean(opts.title), subtitle: 'errors shaded by count; the diagonal (correct) in grey' },
    data: { values },
    width: cell * order.length,
    height: cell * order.length,
    encoding: {
      x: { field: 'predicted', type: 'ordinal', sort: order, title: 'predicted class', axis: { orient: 'top', labelAngle: named ? -40 : 0, labelAlign: named ? 'left' : 'center' } },
      y: { field: 'actual', type: 'ordinal', sort: order, title: 'true class' },
    },
    layer: [
      { mark: { type: 'rect', stroke: '#ffffff', strokeWidth: 1 }, encoding: { fill: { field: 'fill', type: 'nominal', scale: null, legend: null } } },
      { mark: { type: 'text', fontSize: cell >= 34 ? 11 : 10 }, encoding: { text: { field: 'text' }, fill: { field: 'ink', type: 'nominal', scale: null, legend: null } } },
    ],
  } as vl.TopLevelSpec);
}

export interface CurvePoint {
  classifier: string;
  n: number;
  /** 0..1 */
  accuracy: number;
  low: number;
  high: number;
  fitSeconds: number;
  predictSeconds: number;
}

export interface GrowthFit {
  classifier: string;
  exponent: number;
  coefficient: number;
}

const CATEGORY = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const colours = (n: number) => Array.from({ length: n }, (_, i) => CATEGORY[i % CATEGORY.length]!);
const uniq = <T,>(xs: readonly T[]) => [...new Set(xs)];
/** The legend (and line) label of a fitted growth: "knn: fit ∝ n^1.90". */
export const growthLabel = (f: GrowthFit) => `${clean(f.classifier)}: fit ∝ n^${f.exponent.toFixed(2)}`;

/**
 * Learning curves: (a) test accuracy vs training size n (log x), a line and points per classifier with
 * its interval low..high as error bars; (b) fit time vs n on log–log axes, the measured points and each
 * fitted power law seconds = coefficient · n^exponent drawn over that classifier's range of n, the
 * legend naming the exponent ("knn: fit ∝ n^1.90"). Colours are the same per classifier in both.
 */
export async function learningCurveCharts(points: readonly CurvePoint[], fits: readonly GrowthFit[]): Promise<{ accuracy: string; fitTime: string }> {
  const values = points
    .filter((p) => p.n > 0 && Number.isFinite(p.accuracy))
    .map((p) => ({ classifier: clean(p.classifier), n: p.n, accuracy: pct1(p.accuracy), low: pct1(p.low), high: pct1(p.high), fitSeconds: p.fitSeconds }));
  const classifiers = uniq(values.map((v) => v.classifier).concat(fits.map((f) => clean(f.classifier))));
  const range = colours(classifiers.length);
  const ns = uniq(values.map((v) => v.n)).sort((a, b) => a - b);
  // Without data a log scale has no domain (vega would describe it as "NaN to NaN"): give it one.
  const nScale = { type: 'log', nice: false, padding: 12, ...(ns.length ? {} : { domain: [100, 10000] }) } as const;
  const nAxis = { title: 'training images n (log scale)', values: ns.length <= 12 ? ns : undefined, format: ',d', labelOverlap: 'greedy' as const };
  const accuracy = await vegaLiteSvg({
    title: { text: 'Test accuracy vs training size', subtitle: 'bars: the 95% interval' },
    data: { values },
    width: W,
    height: H,
    encoding: {
      x: { field: 'n', type: 'quantitative', scale: nScale, axis: nAxis },
      color: { field: 'classifier', type: 'nominal', title: 'classifier', scale: { domain: classifiers, range }, legend: { labelLimit: 320 } },
    },
    layer: [
      { mark: { type: 'errorbar', ticks: { size: 6 } }, encoding: { y: { field: 'low', type: 'quantitative', title: 'test accuracy, %', scale: { zero: false, ...(values.length ? {} : { domain: [0, 100] }) }, axis: { format: '.1f' } }, y2: { field: 'high' } } },
      { mark: { type: 'line', point: { filled: true, size: 40 }, strokeWidth: 1.5 }, encoding: { y: { field: 'accuracy', type: 'quantitative' } } },
    ],
  } as vl.TopLevelSpec);

  const labelOf = new Map(fits.map((f) => [clean(f.classifier), growthLabel(f)]));
  const series = classifiers.map((c) => labelOf.get(c) ?? c);
  const lines = fits
    .filter((f) => Number.isFinite(f.exponent) && Number.isFinite(f.coefficient) && f.coefficient > 0)
    .flatMap((f) => {
      const own = values.filter((v) => v.classifier === clean(f.classifier)).map((v) => v.n);
      const from = own.length ? own : ns;
      if (!from.length) return [];
      const lo = Math.min(...from);
      const hi = Math.max(...from);
      return Array.from({ length: 21 }, (_, i) => {
        const n = lo * (hi / lo) ** (i / 20);
        return { series: growthLabel(f), n, seconds: f.coefficient * n ** f.exponent };
      });
    });
  const timed = values.filter((v) => v.fitSeconds > 0 && Number.isFinite(v.fitSeconds)).map((v) => ({ series: labelOf.get(v.classifier) ?? v.classifier, n: v.n, seconds: v.fitSeconds }));
  const colour = { field: 'series', type: 'nominal', title: 'fitted growth', scale: { domain: series, range }, legend: { labelLimit: 320 } } as const;
  const x = { field: 'n', type: 'quantitative', scale: nScale, axis: nAxis } as const;
  const y = { field: 'seconds', type: 'quantitative', scale: { type: 'log', ...(lines.length || timed.length ? {} : { domain: [0.01, 1] }) }, title: 'fit time, s (log scale)', axis: { format: '~g' } } as const;
  const fitTime = await vegaLiteSvg({
    title: { text: 'Fit time vs training size (log–log)', subtitle: 'dashed: the fitted power law seconds = c · n^k' },
    width: W,
    height: H,
    layer: [
      { data: { values: lines }, mark: { type: 'line', strokeDash: [4, 3], strokeWidth: 1.5 }, encoding: { x, y, color: colour } },
      { data: { values: timed }, mark: { type: 'point', filled: true, size: 40 }, encoding: { x, y, color: colour } },
    ],
  } as vl.TopLevelSpec);
  return { accuracy, fitTime };
}

export interface SpreadPoint {
  group: string;
  /** 0..1 */
  value: number;
  /** What the value is (e.g. "fold", "repetition"); several kinds get different shapes. */
  kind?: string;
}

/** Mean and sample sd. */
function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}

/**
 * A strip plot of per-run values per group (one row per group, in the order the groups first appear):
 * each run a dot, the group's mean a black tick with a ± sd bar, and "mean ± sd" written at the right.
 * The `marked` group(s) (e.g. the chosen grid point) are drawn in red, their axis label in bold.
 */
export async function spreadChart(points: readonly SpreadPoint[], opts: { title: string; xTitle: string; yTitle?: string; marked?: string | readonly string[]; markedLabel?: string }): Promise<string> {
  const marked = new Set(typeof opts.marked === 'string' ? [clean(opts.marked)] : (opts.marked ?? []).map(clean));
  const markedLabel = clean(opts.markedLabel ?? 'chosen');
  const values = points
    .filter((p) => Number.isFinite(p.value))
    .map((p) => ({ group: clean(p.group), value: Math.round(p.value * 10000) / 100, kind: clean(p.kind ?? ''), status: marked.has(clean(p.group)) ? markedLabel : 'other' }));
  const groups = uniq(values.map((v) => v.group));
  const summary = groups.map((g) => {
    const xs = values.filter((v) => v.group === g).map((v) => v.value);
    const { mean, sd } = meanSd(xs);
    return { group: g, mean, lo: mean - sd, hi: mean + sd, text: xs.length > 1 ? `${mean.toFixed(1)} ± ${sd.toFixed(1)}` : mean.toFixed(1), status: marked.has(g) ? markedLabel : 'other' };
  });
  const all = values.map((v) => v.value).concat(summary.flatMap((s) => [s.lo, s.hi]));
  const lo = all.length ? Math.min(...all) : 0;
  const hi = all.length ? Math.max(...all) : 100;
  const pad = Math.max(0.2, (hi - lo) * 0.08);
  const domain = [Math.max(0, Math.floor((lo - pad) * 10) / 10), Math.min(100, Math.ceil((hi + pad) * 10) / 10)];
  const kinds = uniq(values.map((v) => v.kind).filter(Boolean));
  const statuses = marked.size ? [markedLabel, 'other'] : ['other'];
  const statusColour = { field: 'status', type: 'nominal', scale: { domain: statuses, range: marked.size ? ['#d62728', '#1f77b4'] : ['#1f77b4'] }, legend: marked.size ? { title: null, orient: 'top' } : null } as const;
  const rowH = 28;
  const markedTest = `indexof(${JSON.stringify([...marked])}, datum.value) >= 0`;
  return vegaLiteSvg({
    title: { text: clean(opts.title), subtitle: 'dots: each run; black tick and bar: mean ± sd (written at the right)' },
    width: W - 100,
    height: Math.max(2 * rowH, rowH * groups.length),
    encoding: {
      y: {
        field: 'group',
        type: 'nominal',
        sort: groups,
        title: clean(opts.yTitle ?? 'group'),
        axis: { labelLimit: 260, labelFontWeight: marked.size ? { condition: { test: markedTest, value: 'bold' }, value: 'normal' } : 'normal', labelColor: marked.size ? { condition: { test: markedTest, value: '#d62728' }, value: '#222222' } : '#222222' },
      },
    },
    layer: [
      {
        data: { values: summary },
        mark: { type: 'rule', color: '#444', strokeWidth: 1.5 },
        encoding: { x: { field: 'lo', type: 'quantitative', scale: { domain, nice: false, zero: false }, title: clean(opts.xTitle), axis: { format: '.1f' } }, x2: { field: 'hi' } },
      },
      { data: { values: summary }, mark: { type: 'tick', color: '#000', thickness: 2, size: rowH * 0.7 }, encoding: { x: { field: 'mean', type: 'quantitative' } } },
      {
        data: { values },
        mark: { type: 'point', filled: true, opacity: 0.75, size: 45 },
        encoding: {
          x: { field: 'value', type: 'quantitative' },
          color: statusColour,
          ...(kinds.length > 1 ? { shape: { field: 'kind', type: 'nominal', scale: { domain: kinds }, legend: { title: null, orient: 'top' } } } : {}),
        },
      },
      { data: { values: summary }, mark: { type: 'text', align: 'left', dx: 8, fontSize: 11, color: '#222' }, encoding: { x: { value: W - 100 }, text: { field: 'text' } } },
    ],
  } as vl.TopLevelSpec);
}

export interface MatrixCell {
  classifier: string;
  featureSet: string;
  /** 0..1 */
  accuracy: number;
  chosen?: boolean;
}

/**
 * Classifier × feature set heatmap of (validation) accuracy, each cell's accuracy (%) written in it;
 * the chosen cell per classifier outlined in red and marked ✓. Shades run over each classifier's own
 * range (the question is which feature set suits a classifier; one weak classifier would otherwise wash
 * out every other row), and each cell's text is dark or white, whichever contrasts with it.
 */
export async function featureMatrixChart(cells: readonly MatrixCell[], opts: { title?: string } = {}): Promise<string> {
  const ok = cells.filter((c) => Number.isFinite(c.accuracy));
  const range = new Map<string, [number, number]>();
  for (const c of ok) {
    const a = pct1(c.accuracy);
    const [lo, hi] = range.get(c.classifier) ?? [a, a];
    range.set(c.classifier, [Math.min(lo, a), Math.max(hi, a)]);
  }
  const values = ok.map((c) => {
    const accuracy = pct1(c.accuracy);
    const [lo, hi] = range.get(c.classifier)!;
    const { fill, ink } = cellInk(ramp(BLUES, hi > lo ? 0.1 + (0.8 * (accuracy - lo)) / (hi - lo) : 0.5));
    return { classifier: clean(c.classifier), featureSet: clean(c.featureSet), accuracy, text: `${accuracy.toFixed(1)}${c.chosen ? ' ✓' : ''}`, chosen: !!c.chosen, fill, ink };
  });
  const sets = uniq(values.map((v) => v.featureSet));
  const classifiers = uniq(values.map((v) => v.classifier));
  const longest = Math.max(0, ...sets.map((s) => s.length));
  const cellW = Math.max(80, Math.min(140, Math.floor(W / Math.max(1, sets.length))));
  const angled = longest * 6.6 > cellW - 6;
  return vegaLiteSvg({
    title: { text: clean(opts.title ?? 'Validation accuracy, %'), subtitle: ['shade: darker = more accurate, within each classifier (row)', '✓ and red outline: the feature set the classifier was tested with'] },
    data: { values },
    width: cellW * Math.max(1, sets.length),
    height: 32 * Math.max(1, classifiers.length),
    encoding: {
      x: { field: 'featureSet', type: 'nominal', sort: sets, title: 'feature set', axis: { orient: 'top', labelAngle: angled ? -30 : 0, labelAlign: angled ? 'left' : 'center', labelLimit: 240 } },
      y: { field: 'classifier', type: 'nominal', sort: classifiers, title: 'classifier', axis: { labelLimit: 240 } },
    },
    layer: [
      { mark: { type: 'rect', stroke: '#ffffff', strokeWidth: 1 }, encoding: { fill: { field: 'fill', type: 'nominal', scale: null, legend: null } } },
      { transform: [{ filter: 'datum.chosen' }], mark: { type: 'rect', fill: null, stroke: '#d62728', strokeWidth: 2.5 } },
      { mark: { type: 'text', fontSize: 11 }, encoding: { text: { field: 'text' }, fill: { field: 'ink', type: 'nominal', scale: null, legend: null } } },
    ],
  } as vl.TopLevelSpec);
}

/** A fraction as a percentage rounded to two decimals (for figures near 100%: 0.99462 → 99.46). */
const pct2 = (x: number) => Math.round(x * 10000) / 100;

export interface ReliabilitySeries {
  classifier: string;
  /** Reliability bins (15 equal-width bins of the top label's confidence) before and after calibration; empty bins are left out. */
  before: readonly { count: number; confidence: number; accuracy: number }[];
  after: readonly { count: number; confidence: number; accuracy: number }[];
}

const STAGES = ['after calibration', 'before calibration'] as const;

/**
 * The reliability diagram's Vega-Lite spec: one small panel per classifier (3 a row), accuracy (%) against
 * mean confidence (%) per non-empty bin, after calibration in dark blue, before in light blue, the point's
 * area the bin's test rows, and the diagonal (perfect calibration) dashed grey. Pure: the chart's data
 * is `data.values` (stage "diagonal" rows draw the diagonal in every panel).
 */
export function reliabilitySpec(series: readonly ReliabilitySeries[]): vl.TopLevelSpec {
  const classifiers = uniq(series.map((s) => clean(s.classifier)));
  const bins = (classifier: string, stage: string, xs: ReliabilitySeries['before']) =>
    xs.filter((b) => b.count > 0 && Number.isFinite(b.confidence) && Number.isFinite(b.accuracy)).map((b) => ({ classifier, stage, confidence: pct1(b.confidence), accuracy: pct1(b.accuracy), count: b.count }));
  const values = series.flatMap((s) => {
    const c = clean(s.classifier);
    return [
      { classifier: c, stage: 'diagonal', confidence: 0, accuracy: 0, count: 0 },
      { classifier: c, stage: 'diagonal', confidence: 100, accuracy: 100, count: 0 },
      ...bins(c, STAGES[1], s.before),
      ...bins(c, STAGES[0], s.after),
    ];
  });
  const axis = { scale: { domain: [0, 100], nice: false }, axis: { values: [0, 25, 50, 75, 100], format: 'd' } } as const;
  const x = { field: 'confidence', type: 'quantitative', title: 'mean confidence in the bin, %', ...axis } as const;
  const y = { field: 'accuracy', type: 'quantitative', title: 'accuracy in the bin, %', ...axis } as const;
  const colour = { field: 'stage', type: 'nominal', title: null, scale: { domain: [...STAGES], range: ['#1f5fa8', '#a9c8e8'] }, legend: { orient: 'top' } } as const;
  const stage = (s: string) => [{ filter: `datum.stage === ${JSON.stringify(s)}` }];
  return {
    title: { text: 'Reliability on the test rows', subtitle: ['15 equal-width bins of the top label\'s confidence (empty bins left out); point area: test rows in the bin', 'dashed: perfect calibration (accuracy = confidence)'] },
    data: { values },
    columns: 3,
    facet: { field: 'classifier', type: 'nominal', sort: classifiers, title: null, header: { labelFontSize: 12, labelFontWeight: 'bold', labelLimit: 200 } },
    spec: {
      width: 180,
      height: 180,
      layer: [
        { transform: stage('diagonal'), mark: { type: 'line', color: '#999', strokeDash: [4, 3], strokeWidth: 1 }, encoding: { x, y } },
        ...STAGES.slice()
          .reverse()
          .map((s) => ({
            transform: stage(s),
            layer: [
              { mark: { type: 'line', strokeWidth: s === STAGES[0] ? 1.5 : 1, opacity: s === STAGES[0] ? 1 : 0.8 }, encoding: { x, y, color: colour } },
              { mark: { type: 'point', filled: true, opacity: s === STAGES[0] ? 0.9 : 0.7 }, encoding: { x, y, color: colour, size: { field: 'count', type: 'quantitative', title: 'test rows in the bin', scale: { type: 'sqrt', range: [8, 160] }, legend: s === STAGES[0] ? { orient: 'top' } : null } } },
            ],
          })),
      ],
    },
    resolve: { scale: { size: 'shared' } },
  } as unknown as vl.TopLevelSpec;
}

/** The reliability diagram as SVG (see reliabilitySpec). */
export async function reliabilityChart(series: readonly ReliabilitySeries[]): Promise<string> {
  return vegaLiteSvg(reliabilitySpec(series));
}

export interface CoverageSeries {
  classifier: string;
  /** The accuracy–coverage curve on the test rows, fractions. */
  curve: readonly { coverage: number; accuracy: number }[];
  /** Coverage and accuracy at the bundle's threshold (measured on the test rows), when it answers any. */
  atThreshold?: { coverage: number; accuracy: number };
}

/**
 * The accuracy–coverage chart's Vega-Lite spec: per classifier, the accuracy (%) of the test rows it
 * answers against the share answered (%) as its confidence threshold falls, a dot at the bundle's own
 * threshold, and a dashed rule at the target accuracy. Pure: the curves are the `curve` layer's values.
 */
export function coverageSpec(series: readonly CoverageSeries[], targetAccuracy: number | undefined): vl.TopLevelSpec {
  const curves = series.flatMap((s) => s.curve.filter((p) => Number.isFinite(p.coverage) && Number.isFinite(p.accuracy)).map((p) => ({ classifier: clean(s.classifier), coverage: pct2(p.coverage), accuracy: pct2(p.accuracy) })));
  const dots = series.flatMap((s) => (s.atThreshold && Number.isFinite(s.atThreshold.accuracy) ? [{ classifier: clean(s.classifier), coverage: pct2(s.atThreshold.coverage), accuracy: pct2(s.atThreshold.accuracy) }] : []));
  const target = targetAccuracy !== undefined && Number.isFinite(targetAccuracy) ? pct2(targetAccuracy) : undefined;
  const classifiers = uniq(series.map((s) => clean(s.classifier)));
  const accs = curves.map((c) => c.accuracy).concat(dots.map((d) => d.accuracy), target ?? []);
  const low = accs.length ? Math.max(0, Math.floor(Math.min(...accs) - 1)) : 0;
  const x = { field: 'coverage', type: 'quantitative', title: 'test rows answered (not "unsure"), %', scale: { domain: [0, 100], nice: false } } as const;
  const y = { field: 'accuracy', type: 'quantitative', title: 'accuracy of the answered rows, %', scale: { domain: [low, 100], nice: false, zero: false } } as const;
  const colour = { field: 'classifier', type: 'nominal', title: 'classifier', scale: { domain: classifiers, range: colours(classifiers.length) }, legend: { labelLimit: 320 } } as const;
  return {
    title: {
      text: 'Accuracy vs coverage on the test rows',
      subtitle: [
        'each curve: the most confident answers kept, the rest "unsure"; dot: at the bundle\'s threshold (chosen on validation rows)',
        ...(target !== undefined ? [`dashed: the target accuracy (${target}%)`] : []),
      ],
    },
    width: W,
    height: H,
    layer: [
      { data: { values: target !== undefined ? [{ accuracy: target }] : [] }, mark: { type: 'rule', color: '#888', strokeDash: [4, 3] }, encoding: { y: { field: 'accuracy', type: 'quantitative' } } },
      { data: { values: curves }, mark: { type: 'line', strokeWidth: 1.5, interpolate: 'linear' }, encoding: { x, y, color: colour } },
      { data: { values: dots }, mark: { type: 'point', filled: true, size: 70, stroke: '#ffffff', strokeWidth: 1 }, encoding: { x, y, color: colour } },
    ],
  } as vl.TopLevelSpec;
}

/** The accuracy–coverage chart as SVG (see coverageSpec). */
export async function coverageChart(series: readonly CoverageSeries[], targetAccuracy: number | undefined): Promise<string> {
  return vegaLiteSvg(coverageSpec(series, targetAccuracy));
}

export interface CorruptionCell {
  classifier: string;
  /** A corruption's name, or "clean". */
  corruption: string;
  /** 0..1 */
  accuracy: number;
}

/**
 * The corruption heat map's Vega-Lite spec: classifiers (rows, in the order given) × corruptions (columns,
 * in the order given), each cell's accuracy (%) written in it. One shade scale for every cell (darker
 * orange = less accurate), so a weak corruption and a weak classifier both stand out; each cell's text is
 * dark or white, whichever contrasts with it. Pure: the cells are `data.values`.
 */
export function corruptionSpec(cells: readonly CorruptionCell[]): vl.TopLevelSpec {
  const ok = cells.filter((c) => Number.isFinite(c.accuracy));
  const accs = ok.map((c) => pct1(c.accuracy));
  const lo = accs.length ? Math.min(...accs) : 0;
  const hi = accs.length ? Math.max(...accs) : 100;
  const values = ok.map((c) => {
    const accuracy = pct1(c.accuracy);
    const { fill, ink } = cellInk(ramp(ORANGES, hi > lo ? 0.05 + (0.85 * (hi - accuracy)) / (hi - lo) : 0.05));
    return { classifier: clean(c.classifier), corruption: clean(c.corruption), accuracy, text: accuracy.toFixed(1), fill, ink };
  });
  const corruptions = uniq(values.map((v) => v.corruption));
  const classifiers = uniq(values.map((v) => v.classifier));
  return {
    title: { text: 'Test accuracy under each corruption, %', subtitle: 'shade: darker = less accurate (one scale for every cell); clean: the test images as they are' },
    data: { values },
    width: 46 * Math.max(1, corruptions.length),
    height: 30 * Math.max(1, classifiers.length),
    encoding: {
      x: { field: 'corruption', type: 'nominal', sort: corruptions, title: null, axis: { orient: 'top', labelAngle: -40, labelAlign: 'left', labelLimit: 160 } },
      y: { field: 'classifier', type: 'nominal', sort: classifiers, title: null, axis: { labelLimit: 240 } },
    },
    layer: [
      { mark: { type: 'rect', stroke: '#ffffff', strokeWidth: 1 }, encoding: { fill: { field: 'fill', type: 'nominal', scale: null, legend: null } } },
      { mark: { type: 'text', fontSize: 11 }, encoding: { text: { field: 'text' }, fill: { field: 'ink', type: 'nominal', scale: null, legend: null } } },
    ],
  } as vl.TopLevelSpec;
}

/** The corruption heat map as SVG (see corruptionSpec). */
export async function corruptionChart(cells: readonly CorruptionCell[]): Promise<string> {
  return vegaLiteSvg(corruptionSpec(cells));
}

export interface RungChartPoint {
  /** The candidate's name (one line per candidate). */
  candidate: string;
  /** Training rows per fold set, or epochs. */
  resource: number;
  /** 0..1 */
  accuracy: number;
}

/**
 * Successive halving's rungs: each candidate's mean validation accuracy (%) against the resource it was
 * given (log x), a line per candidate through the rungs it reached. Candidates eliminated before the
 * last rung are grey, the last rung's others blue, the chosen one red and thicker.
 */
export async function rungChart(points: readonly RungChartPoint[], opts: { title: string; resource: 'rows' | 'epochs'; chosen?: string }): Promise<string> {
  const ok = points.filter((p) => Number.isFinite(p.accuracy) && p.resource > 0);
  const last = ok.length ? Math.max(...ok.map((p) => p.resource)) : 0;
  const reached = new Map<string, number>();
  for (const p of ok) reached.set(clean(p.candidate), Math.max(reached.get(clean(p.candidate)) ?? 0, p.resource));
  const chosen = opts.chosen === undefined ? undefined : clean(opts.chosen);
  const fate = (c: string) => (c === chosen ? 'chosen' : reached.get(c) === last ? 'last rung' : 'eliminated');
  const values = ok
    .map((p) => ({ candidate: clean(p.candidate), resource: p.resource, accuracy: pct1(p.accuracy), fate: fate(clean(p.candidate)) }))
    // the chosen line last, so it is drawn on top
    .sort((a, b) => (a.fate === 'chosen' ? 1 : 0) - (b.fate === 'chosen' ? 1 : 0));
  const resources = uniq(values.map((v) => v.resource)).sort((a, b) => a - b);
  const fates = ['chosen', 'last rung', 'eliminated'].filter((f) => values.some((v) => v.fate === f));
  const palette: Record<string, string> = { chosen: '#d62728', 'last rung': '#1f77b4', eliminated: '#b0b0b0' };
  return vegaLiteSvg({
    title: { text: clean(opts.title), subtitle: 'each candidate through the rungs it reached; grey: eliminated' },
    data: { values },
    width: W,
    height: H,
    encoding: {
      x: {
        field: 'resource',
        type: 'quantitative',
        scale: { type: 'log', nice: false, padding: 16, ...(resources.length ? {} : { domain: [1, 10] }) },
        axis: { title: opts.resource === 'rows' ? 'rows given to the folds (log scale)' : 'epochs (log scale)', values: resources, format: ',d' },
      },
      y: { field: 'accuracy', type: 'quantitative', title: 'validation accuracy, %', scale: { zero: false, ...(values.length ? {} : { domain: [0, 100] }) }, axis: { format: '.1f' } },
      color: { field: 'fate', type: 'nominal', title: null, scale: { domain: fates, range: fates.map((f) => palette[f]!) }, legend: { orient: 'top' } },
      detail: { field: 'candidate', type: 'nominal' },
    },
    layer: [
      { mark: { type: 'line', strokeWidth: 1.2, opacity: 0.8 } },
      { mark: { type: 'point', filled: true, size: 30 } },
      { transform: [{ filter: "datum.fate === 'chosen'" }], mark: { type: 'line', strokeWidth: 3 } },
    ],
  } as vl.TopLevelSpec);
}
