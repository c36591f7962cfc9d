import { describe, expect, it } from 'vitest';
import {
  accuracyLatencyChart,
  confusionChart,
  corruptionChart,
  coverageChart,
  featureMatrixChart,
  learningCurveCharts,
  placeLabels,
  reliabilityChart,
  spreadChart,
  vegaSvg,
  type CurvePoint,
  type LatencyPoint,
  type MatrixCell,
  type SpreadPoint,
} from '../src/report/vega.ts';

const PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n';

const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(Number.parseInt(h, 16))).replace(/&amp;/g, '&');

/** Well-formed XML: the declaration, one <svg> root, every tag closed in order, text and attributes escaped. */
function expectSvg(svg: string): void {
  expect(svg.startsWith(`${PROLOG}<svg xmlns="http://www.w3.org/2000/svg"`)).toBe(true);
  const body = svg.slice(PROLOG.length);
  expect(body.startsWith('<svg')).toBe(true);
  const stack: string[] = [];
  let roots = 0;
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  for (let m = token.exec(body); m; m = token.exec(body)) {
    const [, close, name, attrs, selfClose, text, stray] = m;
    if (stray) throw new Error(`stray "<" at ${m.index}: ${body.slice(m.index, m.index + 60)}`);
    if (text !== undefined) {
      expect(text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, ''), 'unescaped & in text').not.toContain('&');
      expect(text, 'raw > in text').not.toContain('>');
      if (!stack.length) expect(text.trim(), 'text outside the root').toBe('');
      continue;
    }
    expect((attrs ?? '').replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, ''), 'unescaped & in an attribute').not.toContain('&');
    if (close) expect(stack.pop(), `closing </${name}>`).toBe(name);
    else if (!selfClose) {
      if (!stack.length) roots++;
      stack.push(name!);
    } else if (!stack.length) roots++;
  }
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
  expect(body).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
  expect(body).not.toContain('NaN');
  expect(body).not.toContain('Infinity');
  expect(body).not.toContain('undefined');
}

interface SvgText {
  text: string;
  x: number;
  y: number;
  anchor: string;
  size: number;
  fill: string;
  weight: string;
  rotated: boolean;
}

/** Every <text> element: its content (unescaped) and its anchor point (translate(x,y), relative to its group). */
function texts(svg: string): SvgText[] {
  return [...svg.matchAll(/<text([^>]*)>([^<]*)<\/text>/g)].map((m) => {
    const attrs = m[1]!;
    const t = /transform="translate\(([-\d.e]+),([-\d.e]+)\)( rotate)?/.exec(attrs);
    const attr = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(attrs)?.[1] ?? '';
    return {
      text: unescape(m[2]!),
      x: Number(t?.[1] ?? 0),
      y: Number(t?.[2] ?? 0),
      anchor: attr('text-anchor') || 'start',
      size: Number.parseFloat(attr('font-size') || '11'),
      fill: attr('fill'),
      weight: attr('font-weight') || 'normal',
      rotated: !!t?.[3],
    };
  });
}
const contents = (svg: string) => texts(svg).map((t) => t.text);

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}
const overlap = (a: Box, b: Box) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

/**
 * A text's approximate box: width = length × 6 px (11 px font), from its anchor per text-anchor; vertical
 * from the alphabetic baseline (the translate's y) up 0.79 em and down 0.21 em.
 */
function textBox(t: SvgText, perChar = 6): Box {
  const w = [...t.text].length * perChar;
  const x0 = t.anchor === 'end' ? t.x - w : t.anchor === 'middle' ? t.x - w / 2 : t.x;
  return { x0, y0: t.y - 0.79 * t.size, x1: x0 + w, y1: t.y + 0.21 * t.size };
}

/** The contents of every <g class="CLASS…"> group (each up to its closing tag). */
function groups(svg: string, cls: string): string[] {
  const out: string[] = [];
  for (let start = svg.indexOf(`<g class="${cls}`); start >= 0; start = svg.indexOf(`<g class="${cls}`, start + 1)) {
    let depth = 0;
    const tag = /<(\/?)g\b[^>]*?(\/?)>/g;
    tag.lastIndex = start;
    for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
      if (m[2]) continue;
      depth += m[1] ? -1 : 1;
      if (!depth) {
        out.push(svg.slice(start, m.index));
        break;
      }
    }
  }
  return out;
}
/** The contents of the only <g class="CLASS…"> group. */
function group(svg: string, cls: string): string {
  const all = groups(svg, cls);
  expect(all, `groups of class "${cls}"`).toHaveLength(1);
  return all[0]!;
}

/** Points of the symbol mark: each path's translate. */
function symbols(svg: string): { x: number; y: number; fill: string }[] {
  return [...group(svg, 'mark-symbol role-mark point-symbols').matchAll(/<path transform="translate\(([-\d.e]+),([-\d.e]+)\)"[^>]*?fill="([^"]*)"/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]), fill: m[3]! }));
}

/** Cells of a rect mark (vega-lite writes them as absolute paths "Mx,yhWvHh-WZ"). */
function rects(svg: string, cls: string): (Box & { fill: string; stroke: string })[] {
  return [...group(svg, cls).matchAll(/<path[^>]*?d="M([-\d.e]+),([-\d.e]+)h([-\d.e]+)v([-\d.e]+)h[-\d.e]+Z"([^>]*)>/g)].map((m) => {
    const [x, y, w, h] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
    const rest = m[5]!;
    return { x0: x, y0: y, x1: x + w, y1: y + h, fill: /fill="([^"]*)"/.exec(rest)?.[1] ?? '', stroke: /stroke="([^"]*)"/.exec(rest)?.[1] ?? '' };
  });
}

/** Texts of one text mark group (e.g. the cell texts of a heatmap). */
const markTexts = (svg: string, cls: string) => texts(group(svg, cls));

/** WCAG contrast ratio of two colours (#rgb / #rrggbb / white / black). */
function contrast(a: string, b: string): number {
  const lum = (c: string) => {
    const hex = c === 'white' ? 'ffffff' : c === 'black' ? '000000' : c.slice(1).length === 3 ? [...c.slice(1)].map((d) => d + d).join('') : c.slice(1);
    const n = Number.parseInt(hex, 16);
    const [r, g, bl] = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    }) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/** Every text of `marks` sits in a rect of `cells` and contrasts with it at least `min`:1. */
function expectReadableCells(svg: string, textClass: string, rectClass: string, min: number): number {
  const cells = rects(svg, rectClass);
  const ts = markTexts(svg, textClass);
  expect(ts.length).toBeGreaterThan(0);
  for (const t of ts) {
    const cy = t.y - 0.3 * t.size; // middle baseline: the anchor sits 0.3 em below the centre
    const cell = cells.find((c) => c.x0 <= t.x && t.x <= c.x1 && c.y0 <= cy && cy <= c.y1);
    expect(cell, `a cell under "${t.text}"`).toBeDefined();
    if (t.text === '·') continue;
    expect(contrast(t.fill, cell!.fill), `"${t.text}" (${t.fill}) on ${cell!.fill}`).toBeGreaterThanOrEqual(min);
  }
  return ts.length;
}

/** The quick report: knn used to be drawn under the cnn point. */
const quick: LatencyPoint[] = [
  { label: 'knn', latencyMs: 1.02, accuracy: 0.951 },
  { label: 'cnn', latencyMs: 0.54, accuracy: 0.943, pareto: true },
  { label: 'rf', latencyMs: 0.029, accuracy: 0.943, pareto: true },
  { label: 'svm', latencyMs: 1.42, accuracy: 0.972, pareto: true },
  { label: 'naive-bayes', latencyMs: 0.845, accuracy: 0.879 },
  { label: 'decision-tree', latencyMs: 0.0142, accuracy: 0.776, pareto: true },
];

/** Labels of the scatter: no two boxes overlap, none covers a point (r = 4 + stroke). */
function expectLabelsClear(svg: string, labels: readonly string[]): SvgText[] {
  const label = texts(group(svg, 'mark-text role-mark point-labels'));
  expect(label.map((t) => t.text).sort()).toEqual([...labels].sort());
  const boxes = label.map((t) => textBox(t));
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) expect(overlap(boxes[i]!, boxes[j]!), `labels "${label[i]!.text}" and "${label[j]!.text}" overlap`).toBe(false);
  }
  const dots = symbols(svg);
  expect(dots).toHaveLength(labels.length);
  for (const [i, b] of boxes.entries()) {
    for (const d of dots) expect(overlap(b, { x0: d.x - 4.75, y0: d.y - 4.75, x1: d.x + 4.75, y1: d.y + 4.75 }), `label "${label[i]!.text}" over the point at ${d.x.toFixed(0)},${d.y.toFixed(0)}`).toBe(false);
  }
  return label;
}

describe('accuracyLatencyChart', () => {
  it('labels every point of the quick report with no two labels, or a label and a point, overlapping', async () => {
    const svg = await accuracyLatencyChart(quick, { maxLatencyMs: 1 });
    expectSvg(svg);
    const labels = expectLabelsClear(svg, quick.map((p) => p.label));
    // Each label is near its own point (within 30 px of the anchor).
    const dots = symbols(svg);
    for (const [i, p] of quick.entries()) {
      const t = labels.find((l) => l.text === p.label)!;
      const d = dots[i]!;
      const b = textBox(t);
      const dx = Math.max(b.x0 - d.x, 0, d.x - b.x1);
      const dy = Math.max(b.y0 - d.y, 0, d.y - b.y1);
      expect(Math.hypot(dx, dy), p.label).toBeLessThan(30);
    }
    expect(contents(svg)).toEqual(expect.arrayContaining(['Accuracy vs end-to-end latency per image', 'test accuracy, %', 'latency per image, ms (log scale; bundle, end to end)', 'limit 1 ms']));
  });

  it('draws the Pareto points filled, the others hollow, a step line through the front and the limit rule', async () => {
    const svg = await accuracyLatencyChart(quick, { maxLatencyMs: 1 });
    expect(symbols(svg).map((s) => s.fill)).toEqual(quick.map((p) => (p.pareto ? '#d62728' : '#ffffff')));
    // Step line: the front sorted by latency (decision-tree, rf, cnn, svm) → 4 points, 3 risers: 7 vertices.
    const line = /<path[^>]*d="(M[^"]+)"/.exec(group(svg, 'mark-line role-mark front-line'))?.[1] ?? '';
    expect(line.split(/[ML]/).filter(Boolean)).toHaveLength(7);
    expect(group(svg, 'mark-rule role-mark limit-rule')).toContain('stroke-dasharray="4,3"');
    const without = await accuracyLatencyChart(quick);
    expect(group(without, 'mark-rule role-mark limit-rule')).not.toContain('<line');
    expect(contents(without)).not.toContain('limit 1 ms');
  });

  it('keeps labels apart in a crowded cluster too', async () => {
    const crowd: LatencyPoint[] = Array.from({ length: 8 }, (_, i) => ({ label: `clf-${i}`, latencyMs: 1 + 0.04 * i, accuracy: 0.95 + 0.001 * (i % 3), pareto: i === 7 }));
    crowd.push({ label: 'far', latencyMs: 0.01, accuracy: 0.8 });
    const svg = await accuracyLatencyChart(crowd);
    expectSvg(svg);
    expectLabelsClear(svg, crowd.map((p) => p.label));
  });

  it('is byte-identical for the same data, also after other charts and when rendered concurrently', async () => {
    const a = await accuracyLatencyChart(quick, { maxLatencyMs: 1 });
    await featureMatrixChart([{ classifier: 'knn', featureSet: 'raw', accuracy: 0.9 }]);
    const [b, c] = await Promise.all([accuracyLatencyChart(quick, { maxLatencyMs: 1 }), accuracyLatencyChart(quick, { maxLatencyMs: 1 })]);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(a).not.toMatch(/\d{4}-\d\d-\d\d/);
  });

  it('escapes labels and survives no points', async () => {
    const svg = await accuracyLatencyChart([{ label: 'a <&> "b"\u0001', latencyMs: 1, accuracy: 0.5 }], { title: 'x & y' });
    expectSvg(svg);
    expect(contents(svg)).toEqual(expect.arrayContaining(['a <&> "b"', 'x & y']));
    expectSvg(await accuracyLatencyChart([]));
    expectSvg(await accuracyLatencyChart([{ label: 'zero', latencyMs: 0, accuracy: 0.5 }]));
  });
});

describe('placeLabels', () => {
  it('keeps every label inside the plot when there is room, clear of points, labels and obstacles', () => {
    const pts = [
      { x: 555, y: 5, text: 'top-right-corner' },
      { x: 5, y: 355, text: 'bottom-left' },
      { x: 280, y: 180, text: 'centre' },
      { x: 290, y: 182, text: 'centre-2' },
    ];
    const obstacle = { x0: 260, y0: 150, x1: 330, y1: 175 };
    const placed = placeLabels(pts, 560, 360, { obstacles: [obstacle] });
    for (const [i, p] of placed.entries()) {
      expect(p.box.x0 >= 0 && p.box.y0 >= 0 && p.box.x1 <= 560 && p.box.y1 <= 360, pts[i]!.text).toBe(true);
      expect(overlap(p.box, obstacle), pts[i]!.text).toBe(false);
      for (const [j, q] of pts.entries()) expect(overlap(p.box, { x0: q.x - 5, y0: q.y - 5, x1: q.x + 5, y1: q.y + 5 }), `${pts[i]!.text} over ${pts[j]!.text}`).toBe(false);
      for (const o of placed.slice(i + 1)) expect(overlap(p.box, o.box)).toBe(false);
    }
    // The quick report at 520 × 340 px (the layout that drew knn under cnn): labels clear of each other and of every point.
    const quickPx = [
      { x: 470, y: 60, text: 'knn' },
      { x: 440, y: 62, text: 'cnn' },
      { x: 160, y: 62, text: 'random-forest' },
      { x: 500, y: 30, text: 'svm' },
      { x: 480, y: 160, text: 'naive-bayes' },
      { x: 90, y: 320, text: 'decision-tree' },
    ];
    const boxes = placeLabels(quickPx, 520, 340).map((p) => p.box);
    for (const [i, b] of boxes.entries()) {
      for (const o of boxes.slice(i + 1)) expect(overlap(b, o)).toBe(false);
      for (const q of quickPx) expect(overlap(b, { x0: q.x - 5, y0: q.y - 5, x1: q.x + 5, y1: q.y + 5 }), `${quickPx[i]!.text} over ${q.text}`).toBe(false);
    }
    // Depends on the positions only, not on the order of the points.
    const reversed = placeLabels([...pts].reverse(), 560, 360, { obstacles: [obstacle] }).reverse();
    expect(reversed).toEqual(placed);
  });
});

describe('confusionChart', () => {
  const counts = [
    [980, 0, 3, 1],
    [0, 1130, 4, 1],
    [7, 2, 1000, 23],
    [0, 0, 15, 990],
  ];
  const cm = { labels: [0, 1, 2, 3], counts };

  it('writes every count in its cell, rows true and columns predicted, each readable on its cell', async () => {
    const svg = await confusionChart(cm, { title: 'svm: confusion matrix' });
    expectSvg(svg);
    const cellTexts = markTexts(svg, 'mark-text role-mark');
    expect(cellTexts.map((t) => t.text)).toEqual(counts.flat().map((c) => (c === 0 ? '·' : String(c))));
    expectReadableCells(svg, 'mark-text role-mark', 'mark-rect role-mark', 4.5);
    // Rows are the true class: 1130 (true 1, predicted 1) is in row 2, column 2; 23 (true 2, predicted 3) in row 3, column 4.
    const at = (s: string) => cellTexts.find((t) => t.text === s)!;
    const xs = [...new Set(cellTexts.map((t) => t.x))].sort((a, b) => a - b);
    const ys = [...new Set(cellTexts.map((t) => t.y))].sort((a, b) => a - b);
    expect([xs.indexOf(at('1130').x), ys.indexOf(at('1130').y)]).toEqual([1, 1]);
    expect([xs.indexOf(at('23').x), ys.indexOf(at('23').y)]).toEqual([3, 2]);
    expect(contents(svg)).toEqual(expect.arrayContaining(['svm: confusion matrix', 'predicted class', 'true class']));
    // The errors are shaded by count: the largest error darkest, the diagonal all one colour.
    const cells = rects(svg, 'mark-rect role-mark');
    expect(new Set(cells.filter((_, i) => i % 5 === 0).map((c) => c.fill)).size).toBe(1);
    expect(contrast(cells[11]!.fill, '#ffffff')).toBeGreaterThan(contrast(cells[2]!.fill, '#ffffff'));
  });

  it('names classes, escapes them, and is deterministic', async () => {
    const opts = { title: "it's <1> & co", classNames: ['T-shirt & top', 'Trouser', 'Pull"over', 'Dress'] } as const;
    const svg = await confusionChart(cm, opts);
    expectSvg(svg);
    expect(contents(svg)).toEqual(expect.arrayContaining(["it's <1> & co", 'T-shirt & top', 'Pull"over']));
    expect(await confusionChart(cm, opts)).toBe(svg);
  });
});

describe('learningCurveCharts', () => {
  const ns = [500, 1000, 2000, 4000];
  const points: CurvePoint[] = [
    ...ns.map((n, i) => ({ classifier: 'knn', n, accuracy: 0.9 + 0.01 * i, low: 0.89 + 0.01 * i, high: 0.91 + 0.01 * i, fitSeconds: 1e-6 * n ** 1.9, predictSeconds: 0.1 })),
    ...ns.map((n, i) => ({ classifier: 'naive-bayes', n, accuracy: 0.8 + 0.002 * i, low: 0.79, high: 0.81 + 0.002 * i, fitSeconds: 2e-5 * n, predictSeconds: 0.01 })),
  ];
  const fits = [
    { classifier: 'knn', exponent: 1.9, coefficient: 1e-6 },
    { classifier: 'naive-bayes', exponent: 1.004, coefficient: 2e-5 },
  ];

  it('draws accuracy vs n with error bars, and fit time with the fitted power laws named by their exponent', async () => {
    const { accuracy, fitTime } = await learningCurveCharts(points, fits);
    expectSvg(accuracy);
    expectSvg(fitTime);
    expect(contents(accuracy)).toEqual(expect.arrayContaining(['Test accuracy vs training size', 'training images n (log scale)', 'test accuracy, %', 'knn', 'naive-bayes']));
    expect(fitTime).toContain('n^1.90');
    expect(contents(fitTime)).toEqual(expect.arrayContaining(['knn: fit ∝ n^1.90', 'naive-bayes: fit ∝ n^1.00', 'fit time, s (log scale)', 'training images n (log scale)']));
    // One line per classifier in each chart (accuracy: the curves; fit time: the power laws), a point per measurement.
    expect(groups(accuracy, 'mark-line role-mark')).toHaveLength(2);
    expect(groups(fitTime, 'mark-line role-mark')).toHaveLength(2);
    expect(group(fitTime, 'mark-symbol role-mark').match(/<path/g)).toHaveLength(points.length);
    expect(group(accuracy, 'mark-symbol role-mark').match(/<path/g)).toHaveLength(points.length);
    // Error bars: a vertical rule per point from low to high (plus the ticks at their ends).
    const bars = groups(accuracy, 'mark-rule role-mark').join('');
    expect(bars.match(/<line/g)!.length).toBeGreaterThanOrEqual(points.length);
    // The same colour per classifier in both legends.
    const legendFills = (svg: string) => [...svg.matchAll(/role-legend-symbol"[^>]*><path[^>]*fill="([^"]*)"/g)].map((m) => m[1]);
    expect(legendFills(fitTime)).toEqual(legendFills(accuracy));
    expect(legendFills(accuracy)).toHaveLength(2);
  });

  it('draws each fitted line as a straight line on the log–log axes with slope = exponent', async () => {
    const { fitTime } = await learningCurveCharts(points, [fits[0]!]);
    // The y axis: tick labels (seconds) and their pixel positions → pixels per decade.
    const axisLabels = groups(fitTime, 'mark-text role-axis-label').map(texts);
    const yLabels = axisLabels.find((ls) => ls.every((t) => t.anchor === 'end'))!;
    const xLabels = axisLabels.find((ls) => ls.every((t) => t.anchor === 'middle'))!;
    expect(yLabels.length).toBeGreaterThan(1);
    expect(xLabels.length).toBeGreaterThan(1);
    const decades = (ls: SvgText[], coord: 'x' | 'y') => {
      const [a, b] = [ls[0]!, ls[ls.length - 1]!];
      const va = Number(a.text.replace(/,/g, ''));
      const vb = Number(b.text.replace(/,/g, ''));
      return (b[coord] - a[coord]) / (Math.log10(vb) - Math.log10(va));
    };
    const pxPerDecadeY = decades(yLabels, 'y');
    const pxPerDecadeX = decades(xLabels, 'x');
    const d = /<path[^>]*d="M([-\d.e]+),([-\d.e]+)(?:L[-\d.e]+,[-\d.e]+)*L([-\d.e]+),([-\d.e]+)"/.exec(group(fitTime, 'mark-line role-mark'))!;
    expect(d).not.toBeNull();
    const [x0, y0, x1, y1] = [d[1], d[2], d[3], d[4]].map(Number) as [number, number, number, number];
    const slope = (y1 - y0) / pxPerDecadeY / ((x1 - x0) / pxPerDecadeX);
    expect(slope).toBeCloseTo(1.9, 1);
  });

  it('is deterministic and names a classifier without a fit by its name', async () => {
    const a = await learningCurveCharts(points, [fits[0]!]);
    expect(await learningCurveCharts(points, [fits[0]!])).toEqual(a);
    expect(contents(a.fitTime)).toEqual(expect.arrayContaining(['knn: fit ∝ n^1.90', 'naive-bayes']));
  });
});

describe('spreadChart', () => {
  const folds: SpreadPoint[] = [
    ...[0.95, 0.96, 0.97].map((value) => ({ group: 'k=1', value, kind: 'fold' })),
    ...[0.9, 0.92].map((value) => ({ group: 'k=3 <&>', value, kind: 'fold' })),
    { group: 'k=5', value: 0.931, kind: 'fold' },
  ];

  it('one row per group, a dot per run, mean ± sd written, the marked group highlighted', async () => {
    const svg = await spreadChart(folds, { title: 'knn: validation accuracy of each fold', xTitle: 'validation accuracy, %', marked: 'k=3 <&>' });
    expectSvg(svg);
    const all = contents(svg);
    expect(all).toEqual(expect.arrayContaining(['knn: validation accuracy of each fold', 'validation accuracy, %', 'k=1', 'k=3 <&>', 'k=5']));
    expect(all).toEqual(expect.arrayContaining(['96.0 ± 1.0', '91.0 ± 1.4', '93.1']));
    expect(group(svg, 'mark-symbol role-mark').match(/<path/g)).toHaveLength(folds.length);
    // The marked group's dots in red, the others blue; its axis label bold.
    const dotFills = [...group(svg, 'mark-symbol role-mark').matchAll(/fill="([^"]*)"/g)].map((m) => m[1]);
    expect(dotFills).toEqual(folds.map((f) => (f.group === 'k=3 <&>' ? '#d62728' : '#1f77b4')));
    const axisLabels = groups(svg, 'mark-text role-axis-label').flatMap(texts);
    expect(axisLabels.find((t) => t.text === 'k=3 <&>')!.weight).toBe('bold');
    expect(axisLabels.find((t) => t.text === 'k=1')!.weight).not.toBe('bold');
    // Rows top to bottom in the order the groups came.
    const rows = ['k=1', 'k=3 <&>', 'k=5'].map((g) => axisLabels.find((t) => t.text === g)!.y);
    expect([...rows].sort((a, b) => a - b)).toEqual(rows);
  });

  it('takes marked as one group or a list, and is deterministic', async () => {
    const opts = { title: 'Test accuracy of each repetition', xTitle: 'test accuracy, %' };
    const one = await spreadChart(folds, { ...opts, marked: 'k=1' });
    expect(await spreadChart(folds, { ...opts, marked: ['k=1'] })).toBe(one);
    expect(await spreadChart(folds, { ...opts, marked: 'k=1' })).toBe(one);
    const none = await spreadChart(folds, opts);
    expectSvg(none);
    expect(contents(none)).not.toContain('chosen');
  });
});

describe('featureMatrixChart', () => {
  const cells: MatrixCell[] = [
    { classifier: 'knn', featureSet: 'raw', accuracy: 0.955 },
    { classifier: 'knn', featureSet: 'deskew', accuracy: 0.972, chosen: true },
    { classifier: 'knn', featureSet: 'deskew → hog', accuracy: 0.968 },
    { classifier: 'svm', featureSet: 'raw', accuracy: 0.981, chosen: true },
    { classifier: 'svm', featureSet: 'deskew', accuracy: 0.979 },
    { classifier: 'naive-bayes', featureSet: 'raw', accuracy: 0.556 },
    { classifier: 'naive-bayes', featureSet: 'deskew → hog', accuracy: 0.874, chosen: true },
  ];

  it('writes one accuracy per cell, marks the chosen one per classifier, every text readable', async () => {
    const svg = await featureMatrixChart(cells);
    expectSvg(svg);
    const cellTexts = markTexts(svg, 'mark-text role-mark').map((t) => t.text);
    expect(cellTexts).toHaveLength(cells.length);
    expect(cellTexts).toEqual(cells.map((c) => `${(Math.round(c.accuracy * 1000) / 10).toFixed(1)}${c.chosen ? ' ✓' : ''}`));
    expect(cellTexts).toContain('97.2 ✓');
    expect(cellTexts).toContain('55.6');
    // The outline layer: one red rect per chosen cell.
    const outlines = rects(svg, 'mark-rect role-mark layer_1');
    expect(outlines).toHaveLength(3);
    expect(outlines.every((o) => o.stroke === '#d62728')).toBe(true);
    expectReadableCells(svg, 'mark-text role-mark', 'mark-rect role-mark layer_0', 4.5);
    expect(contents(svg)).toEqual(expect.arrayContaining(['Validation accuracy, %', 'feature set', 'classifier', 'deskew → hog']));
    expect(await featureMatrixChart(cells)).toBe(svg);
  });
});

describe('trust charts (reliability, accuracy–coverage, corruption heat map)', () => {
  const bins = (xs: [number, number, number][]) => xs.map(([count, confidence, accuracy]) => ({ count, confidence, accuracy }));
  const odd = 'svm <rbf> & "C=10"';

  it('are well-formed with every classifier named, labels escaped, every number of the heat map in its cell', async () => {
    const reliability = await reliabilityChart([
      { classifier: odd, before: bins([[0, 0, 0], [10, 0.65, 0.96], [90, 0.7, 0.97]]), after: bins([[0, 0, 0], [10, 0.9, 0.9], [90, 0.98, 0.97]]) },
      { classifier: 'knn', before: bins([[100, 1, 0.95]]), after: bins([[100, 0.97, 0.95]]) },
    ]);
    const coverage = await coverageChart(
      [
        { classifier: odd, curve: [{ coverage: 0.2, accuracy: 1 }, { coverage: 1, accuracy: 0.97 }], atThreshold: { coverage: 0.2, accuracy: 1 } },
        { classifier: 'knn', curve: [{ coverage: 0.8, accuracy: 0.99 }, { coverage: 1, accuracy: 0.95 }] },
      ],
      0.995,
    );
    const heat = await corruptionChart([
      { classifier: odd, corruption: 'clean', accuracy: 0.956 },
      { classifier: odd, corruption: 'translate', accuracy: 0.149 },
      { classifier: 'knn', corruption: 'clean', accuracy: 0.931 },
      { classifier: 'knn', corruption: 'translate', accuracy: 0.158 },
    ]);
    for (const svg of [reliability, coverage, heat]) {
      expectSvg(svg);
      expect(contents(svg)).toContain(odd);
      expect(contents(svg)).toContain('knn');
    }
    expect(contents(reliability)).toEqual(expect.arrayContaining(['after calibration', 'before calibration']));
    expect(coverage).toContain('dashed: the target accuracy (99.5%)</tspan>');
    expect(contents(heat)).toEqual(expect.arrayContaining(['95.6', '14.9', '93.1', '15.8', 'clean', 'translate']));
    expect(await reliabilityChart([{ classifier: 'knn', before: bins([[100, 1, 0.95]]), after: bins([[100, 0.97, 0.95]]) }])).toBe(
      await reliabilityChart([{ classifier: 'knn', before: bins([[100, 1, 0.95]]), after: bins([[100, 0.97, 0.95]]) }]),
    );
  });
});

describe('every chart', () => {
  it('renders empty input as a well-formed, titled SVG', async () => {
    const empty = [
      await accuracyLatencyChart([]),
      await confusionChart({ labels: [], counts: [] }, { title: 'empty matrix' }),
      ...Object.values(await learningCurveCharts([], [])),
      await spreadChart([], { title: 'empty spread', xTitle: 'accuracy, %' }),
      await featureMatrixChart([]),
      await reliabilityChart([]),
      await coverageChart([], undefined),
      await corruptionChart([]),
    ];
    for (const svg of empty) expectSvg(svg);
    expect(contents(empty[6]!)).toContain('Reliability on the test rows');
    expect(contents(empty[7]!)).toContain('Accuracy vs coverage on the test rows');
    expect(contents(empty[8]!)).toContain('Test accuracy under each corruption, %');
    expect(contents(empty[1]!)).toContain('empty matrix');
    expect(contents(empty[4]!)).toContain('empty spread');
  });
});

describe('vegaSvg', () => {
  it('cannot load data from a URL or a file', async () => {
    const spec = { width: 10, height: 10, data: [{ name: 't', url: 'https://example.com/data.json' }], marks: [{ type: 'rect', from: { data: 't' } }] } as const;
    await expect(vegaSvg(spec as never)).rejects.toThrow(/no loading|inline/);
    await expect(vegaSvg({ ...spec, data: [{ name: 't', url: '/etc/passwd' }] } as never)).rejects.toThrow(/no loading|inline/);
  });
});
