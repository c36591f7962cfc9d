/**
 * SVG charts for the report: accuracy vs per-sample latency (log x) with the Pareto frontier, and a
 * confusion-matrix heatmap. Pure string building: same input, same bytes (coordinates rounded to 0.1).
 */
import type { ConfusionMatrix } from '../metrics/confusion.ts';
import { paretoIndices } from '../metrics/pareto.ts';

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch]!);
}

const r1 = (v: number) => (Math.round(v * 10) / 10).toString();

function svgOpen(width: number, height: number, title: string): string[] {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
}

/** Round "nice" tick step (1, 2 or 5 × 10^k) giving about `target` ticks over span. */
function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

function fmtTick(v: number): string {
  // Enough decimals to tell ticks apart, no float noise (0.30000000000000004).
  return Number(v.toPrecision(6)).toString();
}

export interface ScatterPoint {
  label: string;
  /** Per-sample latency in milliseconds (> 0; plotted on a log scale). */
  latencyMs: number;
  /** 0..1 */
  accuracy: number;
}

/**
 * Accuracy (y, %) against per-sample latency (x, ms, log scale). Points on the 2-D Pareto frontier
 * (no other point is both faster and more accurate) are filled red and joined by a dashed staircase:
 * for any latency budget, the staircase's height is the best accuracy reachable within it.
 */
export function accuracyLatencySvg(points: readonly ScatterPoint[], opts: { title?: string } = {}): string {
  const title = opts.title ?? 'Accuracy vs per-sample latency';
  const W = 760;
  const H = 460;
  const m = { left: 64, right: 190, top: 44, bottom: 54 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const out = svgOpen(W, H, title);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`);
  const pts = points.filter((p) => Number.isFinite(p.latencyMs) && p.latencyMs > 0 && Number.isFinite(p.accuracy));
  if (pts.length === 0) {
    out.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">No finished runs with a latency to plot.</text>`, '</svg>');
    return out.join('\n') + '\n';
  }
  // x: log10 of the data range, padded, at least one decade wide.
  const lats = pts.map((p) => Math.log10(p.latencyMs));
  let x0 = Math.min(...lats);
  let x1 = Math.max(...lats);
  if (x1 - x0 < 1) {
    const mid = (x0 + x1) / 2;
    x0 = mid - 0.5;
    x1 = mid + 0.5;
  }
  const xPad = Math.max(0.15, (x1 - x0) * 0.06);
  x0 -= xPad;
  x1 += xPad;
  // Labelled ticks at 1 × 10^d, plus 2 and 5 × 10^d when the axis spans under two decades.
  const xTicks: number[] = [];
  const minor: number[] = [];
  for (let d = Math.floor(x0); d <= Math.ceil(x1); d++) {
    for (let k = 1; k <= 9; k++) {
      const v = k * 10 ** d;
      const l = Math.log10(v);
      if (l < x0 || l > x1) continue;
      if (k === 1 || (x1 - x0 < 2 && (k === 2 || k === 5))) xTicks.push(v);
      else minor.push(v);
    }
  }
  // y: percent, padded, clamped to [0, 100], on nice ticks.
  const accs = pts.map((p) => p.accuracy * 100);
  const lo = Math.min(...accs);
  const hi = Math.max(...accs);
  const span = Math.max(hi - lo, 2);
  const step = niceStep(span + 1, 6);
  const y0 = Math.max(0, Math.floor((lo - span * 0.1) / step) * step);
  const y1 = Math.min(100, Math.ceil((hi + span * 0.1) / step) * step);
  const sx = (ms: number) => m.left + ((Math.log10(ms) - x0) / (x1 - x0)) * pw;
  const sy = (pct: number) => m.top + ph - ((pct - y0) / (y1 - y0 || 1)) * ph;

  // Grid and axes.
  out.push('<g stroke="#e4e4e4" stroke-width="1">');
  for (const v of xTicks) out.push(`<line x1="${r1(sx(v))}" y1="${m.top}" x2="${r1(sx(v))}" y2="${m.top + ph}"/>`);
  for (const v of minor) out.push(`<line x1="${r1(sx(v))}" y1="${m.top + ph}" x2="${r1(sx(v))}" y2="${m.top + ph - 4}" stroke="#999999"/>`);
  const yTicks: number[] = [];
  for (let v = y0; v <= y1 + step / 1e6; v += step) yTicks.push(Number(v.toPrecision(10)));
  for (const v of yTicks) out.push(`<line x1="${m.left}" y1="${r1(sy(v))}" x2="${m.left + pw}" y2="${r1(sy(v))}"/>`);
  out.push('</g>');
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333333"/>`);
  out.push('<g text-anchor="middle" fill="#333333">');
  for (const v of xTicks) out.push(`<text x="${r1(sx(v))}" y="${m.top + ph + 18}">${fmtTick(v)}</text>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 12}">latency per sample (ms, log scale)</text>`);
  out.push('</g>');
  out.push('<g text-anchor="end" fill="#333333">');
  for (const v of yTicks) out.push(`<text x="${m.left - 8}" y="${r1(sy(v) + 4)}">${fmtTick(v)}</text>`);
  out.push('</g>');
  out.push(`<text x="18" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 18 ${m.top + ph / 2})" fill="#333333">test accuracy (%)</text>`);

  // Frontier staircase.
  const front = new Set(paretoIndices(pts, [
    { value: (p) => p.accuracy, goal: 'max' },
    { value: (p) => p.latencyMs, goal: 'min' },
  ]));
  const frontPts = [...front].map((i) => pts[i]!).sort((a, b) => a.latencyMs - b.latencyMs || a.accuracy - b.accuracy);
  if (frontPts.length > 0) {
    const path: string[] = [];
    frontPts.forEach((p, i) => {
      const x = r1(sx(p.latencyMs));
      const y = r1(sy(p.accuracy * 100));
      if (i === 0) path.push(`M ${x} ${y}`);
      else path.push(`H ${x}`, `V ${y}`);
    });
    path.push(`H ${m.left + pw}`);
    out.push(`<path d="${path.join(' ')}" fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="5 3"/>`);
  }

  // Points, then labels nudged apart vertically.
  // Each label avoids the other points and the labels placed before it (boxes compared by baseline).
  const placed: { x: number; y: number; w: number }[] = pts.map((p) => ({ x: sx(p.latencyMs) - 6, y: sy(p.accuracy * 100) + 4, w: 12 }));
  const order = pts.map((p, i) => i).sort((a, b) => sy(pts[a]!.accuracy * 100) - sy(pts[b]!.accuracy * 100) || a - b);
  const labels: string[] = [];
  for (const i of order) {
    const p = pts[i]!;
    const x = sx(p.latencyMs);
    const y = sy(p.accuracy * 100);
    const onFront = front.has(i);
    out.push(
      `<circle cx="${r1(x)}" cy="${r1(y)}" r="5" fill="${onFront ? '#d62728' : '#ffffff'}" stroke="${onFront ? '#d62728' : '#1f77b4'}" stroke-width="2"><title>${escapeXml(`${p.label}: ${(p.accuracy * 100).toFixed(2)}%, ${fmtTick(Number(p.latencyMs.toPrecision(3)))} ms`)}</title></circle>`,
    );
    const w = p.label.length * 6.8;
    let ly = y + 4;
    const lx = x + 9;
    for (let guard = 0; guard < 50 && placed.some((q) => Math.abs(q.y - ly) < 13 && lx < q.x + q.w && q.x < lx + w); guard++) ly += 13;
    placed.push({ x: lx, y: ly, w });
    labels.push(`<text x="${r1(lx)}" y="${r1(ly)}">${escapeXml(p.label)}</text>`);
  }
  out.push('<g fill="#222222" stroke="#ffffff" stroke-width="3" paint-order="stroke">', ...labels, '</g>');
  out.push(
    `<g transform="translate(${m.left + pw + 16} ${m.top + ph - 28})">`,
    '<circle cx="6" cy="0" r="5" fill="#d62728" stroke="#d62728" stroke-width="2"/><text x="16" y="4">Pareto frontier</text>',
    '<circle cx="6" cy="20" r="5" fill="#ffffff" stroke="#1f77b4" stroke-width="2"/><text x="16" y="24">dominated</text>',
    '</g>',
    '</svg>',
  );
  return out.join('\n') + '\n';
}

function mix(hex: string, t: number): string {
  // White → hex by t in [0, 1].
  const c = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
  return '#' + c.map((v) => Math.round(255 + (v - 255) * Math.min(1, Math.max(0, t))).toString(16).padStart(2, '0')).join('');
}

/**
 * Confusion-matrix heatmap: rows are true classes, columns predicted. Diagonal cells are blue by the
 * class's recall; off-diagonal cells red by √(count / largest off-diagonal count), so rare confusions stay visible.
 */
export function confusionSvg(cm: ConfusionMatrix, opts: { title?: string; classNames?: readonly string[] } = {}): string {
  const k = cm.labels.length;
  const name = (i: number) => opts.classNames?.[cm.labels[i]!] ?? String(cm.labels[i]);
  const cell = 36;
  const m = { left: 74, top: 76, right: 16, bottom: 16 };
  const W = m.left + k * cell + m.right;
  const H = m.top + k * cell + m.bottom;
  const title = opts.title ?? 'Confusion matrix';
  const out = svgOpen(Math.max(W, 260), H, title);
  out.push(`<text x="8" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  out.push(`<text x="${m.left + (k * cell) / 2}" y="${m.top - 30}" text-anchor="middle" fill="#333333">predicted</text>`);
  out.push(`<text x="16" y="${m.top + (k * cell) / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.top + (k * cell) / 2})" fill="#333333">true</text>`);
  let maxOff = 0;
  cm.counts.forEach((r, t) => r.forEach((c, p) => t !== p && (maxOff = Math.max(maxOff, c))));
  out.push('<g text-anchor="middle">');
  for (let i = 0; i < k; i++) {
    out.push(`<text x="${m.left + i * cell + cell / 2}" y="${m.top - 8}">${escapeXml(name(i))}</text>`);
    out.push(`<text x="${m.left - 14}" y="${m.top + i * cell + cell / 2 + 4}">${escapeXml(name(i))}</text>`);
  }
  for (let t = 0; t < k; t++) {
    const rowTotal = cm.counts[t]!.reduce((a, b) => a + b, 0);
    for (let p = 0; p < k; p++) {
      const c = cm.counts[t]![p]!;
      const shade = t === p ? (rowTotal ? c / rowTotal : 0) : maxOff ? Math.sqrt(c / maxOff) : 0;
      const fill = c === 0 ? '#fafafa' : mix(t === p ? '#08519c' : '#cb181d', t === p ? shade : 0.15 + 0.85 * shade);
      const x = m.left + p * cell;
      const y = m.top + t * cell;
      out.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ffffff"><title>true ${escapeXml(name(t))}, predicted ${escapeXml(name(p))}: ${c}</title></rect>`);
      if (c > 0) out.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" font-size="${c >= 1000 ? 10 : 11}" fill="${shade > 0.55 ? '#ffffff' : '#111111'}">${c}</text>`);
    }
  }
  out.push('</g>', `<rect x="${m.left}" y="${m.top}" width="${k * cell}" height="${k * cell}" fill="none" stroke="#333333"/>`, '</svg>');
  return out.join('\n') + '\n';
}
