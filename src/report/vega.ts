/**
 * The report's charts as Vega-Lite / Vega specs, rendered to SVG headlessly by vega's `toSVG()` (no
 * browser, no canvas: vega estimates text widths). Data is inlined; the loader refuses any URL, so a
 * spec cannot fetch. Same data → same SVG bytes.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';

const FONT = 'Helvetica, Arial, sans-serif';
const config = { font: FONT, view: { stroke: '#ddd' }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 14 } };

const noLoader = {
  load: () => Promise.reject(new Error('report charts inline their data; no loading')),
  sanitize: () => Promise.reject(new Error('report charts inline their data; no loading')),
  http: () => Promise.reject(new Error('no http')),
  file: () => Promise.reject(new Error('no files')),
};

/** Renders a Vega spec to SVG. */
export async function vegaSvg(spec: vega.Spec): Promise<string> {
  const view = new vega.View(vega.parse(spec), { renderer: 'none', loader: noLoader as unknown as vega.Loader, logLevel: vega.Error });
  try {
    return `<?xml version="1.0" encoding="UTF-8"?>\n${await view.toSVG()}`;
  } finally {
    view.finalize();
  }
}

/** Compiles a Vega-Lite spec and renders it to SVG. */
export async function vegaLiteSvg(spec: vl.TopLevelSpec): Promise<string> {
  return vegaSvg(vl.compile({ config, ...spec } as vl.TopLevelSpec).spec);
}

const pct1 = (x: number) => Math.round(x * 1000) / 10;

const W = 520;
const H = 340;
const LABEL_PX = 11;
/** Estimated text width (Helvetica averages about 0.58 em per character). */
const textWidth = (s: string) => s.length * LABEL_PX * 0.58;

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

const overlaps = (a: Box, b: Box) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

/**
 * Where each point's label goes: the first of eight positions around the point (right, left, above,
 * below, then the diagonals) whose box stays inside the plot and clear of every point and every label
 * placed before it; points are labelled from the top down. Vega's own label transform does this too,
 * but it needs a canvas, which headless Node does not have; this is the same search on estimated text
 * boxes.
 */
export function placeLabels(points: readonly { x: number; y: number; text: string }[], width: number, height: number): { dx: number; dy: number; align: string; baseline: string; box: Box }[] {
  const r = 5;
  const dots: Box[] = points.map((p) => ({ x0: p.x - r, y0: p.y - r, x1: p.x + r, y1: p.y + r }));
  const taken: Box[] = [];
  const out = new Array<{ dx: number; dy: number; align: string; baseline: string; box: Box }>(points.length);
  const order = points.map((_, i) => i).sort((a, b) => points[a]!.y - points[b]!.y || points[a]!.x - points[b]!.x);
  for (const i of order) {
    const p = points[i]!;
    const w = textWidth(p.text);
    const h = LABEL_PX + 2;
    const options = [
      { dx: 7, dy: 0, align: 'left', baseline: 'middle' },
      { dx: -7, dy: 0, align: 'right', baseline: 'middle' },
      { dx: 0, dy: -7, align: 'center', baseline: 'bottom' },
      { dx: 0, dy: 7, align: 'center', baseline: 'top' },
      { dx: 5, dy: -5, align: 'left', baseline: 'bottom' },
      { dx: -5, dy: -5, align: 'right', baseline: 'bottom' },
      { dx: 5, dy: 5, align: 'left', baseline: 'top' },
      { dx: -5, dy: 5, align: 'right', baseline: 'top' },
      { dx: 0, dy: -20, align: 'center', baseline: 'bottom' },
      { dx: 0, dy: 20, align: 'center', baseline: 'top' },
    ].map((o) => {
      const x0 = o.align === 'left' ? p.x + o.dx : o.align === 'right' ? p.x + o.dx - w : p.x - w / 2;
      const y0 = o.baseline === 'middle' ? p.y - h / 2 : o.baseline === 'bottom' ? p.y + o.dy - h : p.y + o.dy;
      return { ...o, box: { x0, y0, x1: x0 + w, y1: y0 + h } };
    });
    const inside = (b: Box) => b.x0 >= 0 && b.x1 <= width && b.y0 >= 0 && b.y1 <= height;
    const clear = (b: Box) => !taken.some((t) => overlaps(t, b)) && !dots.some((d) => overlaps(d, b));
    const pick = options.find((o) => inside(o.box) && clear(o.box)) ?? options.find((o) => clear(o.box)) ?? options[0]!;
    taken.push(pick.box);
    out[i] = pick;
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
 * Accuracy (%) against end-to-end latency per image (ms, log x). Pareto points are filled and joined
 * by a staircase; labels are placed by vega's label transform, which tries eight positions around each
 * point and drops none onto another label or point.
 */
export async function accuracyLatencyChart(points: readonly LatencyPoint[], opts: { maxLatencyMs?: number; title?: string } = {}): Promise<string> {
  const values = points
    .filter((p) => p.latencyMs > 0 && Number.isFinite(p.accuracy))
    .map((p) => ({ label: p.label, latency: p.latencyMs, accuracy: pct1(p.accuracy), pareto: !!p.pareto }));
  const front = values.filter((v) => v.pareto).sort((a, b) => a.latency - b.latency);
  const stairs = front.flatMap((v, i) => (i === 0 ? [v] : [{ ...v, accuracy: front[i - 1]!.accuracy }, v]));
  const lats = values.map((v) => v.latency).concat(opts.maxLatencyMs ?? []);
  const accs = values.map((v) => v.accuracy);
  const xDomain: [number, number] = [Math.min(...lats) / 1.6, Math.max(...lats) * 1.6];
  const yDomain: [number, number] = [Math.floor(Math.min(...accs) - 2), Math.min(100, Math.ceil(Math.max(...accs) + 1))];
  const px = (v: { latency: number; accuracy: number }) => ({
    x: (W * (Math.log(v.latency) - Math.log(xDomain[0]))) / (Math.log(xDomain[1]) - Math.log(xDomain[0])),
    y: H - (H * (v.accuracy - yDomain[0])) / (yDomain[1] - yDomain[0]),
  });
  const placed = placeLabels(values.map((v) => ({ ...px(v), text: v.label })), W, H);
  const labelled = values.map((v, i) => ({ ...v, ...placed[i]! }));
  const spec: vega.Spec = {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: W,
    height: H,
    padding: 8,
    config: config as vega.Config,
    title: { text: opts.title ?? 'Accuracy vs end-to-end latency per image', font: FONT },
    data: [
      { name: 'points', values: labelled },
      { name: 'stairs', values: stairs },
      { name: 'limit', values: opts.maxLatencyMs !== undefined ? [{ latency: opts.maxLatencyMs }] : [] },
    ],
    scales: [
      { name: 'x', type: 'log', domain: xDomain, range: 'width', nice: false },
      { name: 'y', type: 'linear', domain: yDomain, range: 'height', nice: false, zero: false },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: 'latency per image, ms (log scale; bundle, end to end)', grid: true, gridColor: '#eee' },
      { orient: 'left', scale: 'y', title: 'test accuracy, %', grid: true, gridColor: '#eee' },
    ],
    marks: [
      { type: 'rule', from: { data: 'limit' }, encode: { enter: { x: { scale: 'x', field: 'latency' }, y: { value: 0 }, y2: { signal: 'height' }, stroke: { value: '#999' }, strokeDash: { value: [4, 3] } } } },
      { type: 'line', from: { data: 'stairs' }, encode: { enter: { x: { scale: 'x', field: 'latency' }, y: { scale: 'y', field: 'accuracy' }, stroke: { value: '#d62728' }, strokeDash: { value: [5, 3] } } } },
      {
        type: 'symbol',
        name: 'dots',
        from: { data: 'points' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'latency' },
            y: { scale: 'y', field: 'accuracy' },
            size: { value: 60 },
            fill: { signal: "datum.pareto ? '#d62728' : '#ffffff'" },
            stroke: { signal: "datum.pareto ? '#d62728' : '#1f77b4'" },
            strokeWidth: { value: 1.5 },
          },
        },
      },
      {
        type: 'text',
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

/** Confusion matrix heatmap: rows true class, columns predicted, counts in the cells. */
export async function confusionChart(cm: { labels: readonly number[]; counts: readonly (readonly number[])[] }, opts: { title: string; classNames?: readonly string[] }): Promise<string> {
  const name = (l: number) => opts.classNames?.[l] ?? String(l);
  const values = cm.counts.flatMap((row, t) => row.map((count, p) => ({ actual: name(cm.labels[t]!), predicted: name(cm.labels[p]!), count, diagonal: t === p })));
  const order = cm.labels.map(name);
  const max = Math.max(1, ...values.filter((v) => !v.diagonal).map((v) => v.count));
  return vegaLiteSvg({
    title: opts.title,
    data: { values },
    width: 22 * order.length + 80,
    height: 22 * order.length + 80,
    encoding: {
      x: { field: 'predicted', type: 'ordinal', sort: order, title: 'predicted class', axis: { orient: 'top', labelAngle: 0 } },
      y: { field: 'actual', type: 'ordinal', sort: order, title: 'true class' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          // Off-diagonal counts on their own scale (the diagonal would wash them out); the diagonal in grey.
          color: {
            condition: [
              { test: 'datum.diagonal', value: '#e8e8e8' },
              { test: 'datum.count == 0', value: '#ffffff' },
            ],
            field: 'count',
            type: 'quantitative',
            scale: { scheme: 'oranges', domain: [0, max] },
            legend: null,
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 10 },
        encoding: {
          text: { condition: { test: 'datum.count == 0', value: '·' }, field: 'count', type: 'quantitative' },
          color: { condition: { test: `!datum.diagonal && datum.count > ${max * 0.6}`, value: '#fff' }, value: '#222' },
        },
      },
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

/** Learning curves: accuracy vs training size (log n), and fit time vs n on log–log axes with each fitted power law. */
export async function learningCurveCharts(points: readonly CurvePoint[], fits: readonly GrowthFit[]): Promise<{ accuracy: string; fitTime: string }> {
  const values = points.map((p) => ({ ...p, accuracy: pct1(p.accuracy), low: pct1(p.low), high: pct1(p.high) }));
  const color = { field: 'classifier', type: 'nominal', title: 'classifier', scale: { scheme: 'category10' }, legend: { labelLimit: 320 } } as const;
  const accuracy = await vegaLiteSvg({
    title: 'Test accuracy vs training size (95% interval)',
    data: { values },
    width: 520,
    height: 320,
    encoding: { x: { field: 'n', type: 'quantitative', scale: { type: 'log' }, title: 'training images n (log scale)' }, color },
    layer: [
      { mark: { type: 'errorbar', ticks: true }, encoding: { y: { field: 'low', type: 'quantitative', title: 'test accuracy, %', scale: { zero: false } }, y2: { field: 'high' } } },
      { mark: { type: 'line', point: true }, encoding: { y: { field: 'accuracy', type: 'quantitative' } } },
    ],
  } as vl.TopLevelSpec);
  const ns = points.map((p) => p.n);
  const lo = Math.min(...ns);
  const hi = Math.max(...ns);
  const lines = fits.flatMap((f) =>
    Array.from({ length: 21 }, (_, i) => {
      const n = lo * (hi / lo) ** (i / 20);
      return { classifier: `${f.classifier}: fit ∝ n^${f.exponent.toFixed(2)}`, n, seconds: f.coefficient * n ** f.exponent };
    }),
  );
  const labelOf = new Map(fits.map((f) => [f.classifier, `${f.classifier}: fit ∝ n^${f.exponent.toFixed(2)}`]));
  const fitTime = await vegaLiteSvg({
    title: 'Fit time vs training size (log–log), with the fitted power law',
    width: 520,
    height: 320,
    layer: [
      {
        data: { values: lines },
        mark: { type: 'line', strokeDash: [4, 3] },
        encoding: { x: { field: 'n', type: 'quantitative', scale: { type: 'log' }, title: 'training images n (log scale)' }, y: { field: 'seconds', type: 'quantitative', scale: { type: 'log' }, title: 'fit time, s (log scale)' }, color: { ...color, title: 'fitted growth' } },
      },
      {
        data: { values: values.filter((v) => v.fitSeconds > 0).map((v) => ({ ...v, classifier: labelOf.get(v.classifier) ?? v.classifier })) },
        mark: { type: 'point', filled: true },
        encoding: { x: { field: 'n', type: 'quantitative' }, y: { field: 'fitSeconds', type: 'quantitative' }, color: { ...color, title: 'fitted growth' } },
      },
    ],
  } as vl.TopLevelSpec);
  return { accuracy, fitTime };
}

export interface SpreadPoint {
  group: string;
  /** 0..1 */
  value: number;
}

/** Per-run values per group (e.g. each fold or repetition), with each group's mean ± sd; `marked` highlighted. */
export async function spreadChart(points: readonly SpreadPoint[], opts: { title: string; xTitle: string; marked?: readonly string[] }): Promise<string> {
  const marked = new Set(opts.marked ?? []);
  const values = points.map((p) => ({ group: p.group, value: pct1(p.value), marked: marked.has(p.group) }));
  const groups = [...new Set(values.map((v) => v.group))];
  return vegaLiteSvg({
    title: opts.title,
    data: { values },
    width: 460,
    height: Math.max(60, 26 * groups.length),
    encoding: { y: { field: 'group', type: 'nominal', sort: groups, title: null } },
    layer: [
      { mark: { type: 'errorbar', extent: 'stdev', ticks: true, color: '#555' }, encoding: { x: { field: 'value', type: 'quantitative', scale: { zero: false }, title: opts.xTitle } } },
      { mark: { type: 'tick', color: '#000', thickness: 2 }, encoding: { x: { aggregate: 'mean', field: 'value', type: 'quantitative' } } },
      {
        mark: { type: 'point', filled: true, opacity: 0.7 },
        encoding: { x: { field: 'value', type: 'quantitative' }, color: { field: 'marked', type: 'nominal', scale: { domain: [false, true], range: ['#1f77b4', '#d62728'] }, legend: marked.size ? { title: 'chosen' } : null } },
      },
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

/** Classifier × feature set heatmap of (validation) accuracy; the chosen cell per classifier outlined. */
export async function featureMatrixChart(cells: readonly MatrixCell[], opts: { title?: string } = {}): Promise<string> {
  const values = cells.map((c) => ({ ...c, accuracy: pct1(c.accuracy), text: `${pct1(c.accuracy).toFixed(1)}${c.chosen ? ' ✓' : ''}`, chosen: !!c.chosen }));
  const sets = [...new Set(values.map((v) => v.featureSet))];
  const classifiers = [...new Set(values.map((v) => v.classifier))];
  return vegaLiteSvg({
    title: opts.title ?? 'Validation accuracy, % (✓ = chosen feature set)',
    data: { values },
    width: 90 * sets.length,
    height: 30 * classifiers.length,
    encoding: { x: { field: 'featureSet', type: 'nominal', sort: sets, title: 'feature set', axis: { orient: 'top', labelAngle: 0 } }, y: { field: 'classifier', type: 'nominal', sort: classifiers, title: null } },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'accuracy', type: 'quantitative', scale: { scheme: 'blues' }, legend: { title: '%' } } } },
      { mark: { type: 'rect', fill: null, strokeWidth: 2.5 }, encoding: { stroke: { condition: { test: 'datum.chosen', value: '#d62728' }, value: null } } },
      { mark: { type: 'text', fontSize: 11 }, encoding: { text: { field: 'text' }, color: { condition: { test: 'datum.accuracy > 90', value: '#fff' }, value: '#222' } } },
    ],
  } as vl.TopLevelSpec);
}
