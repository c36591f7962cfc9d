/** Formatting for the report's text: numbers, sizes, percentages, p-values, params, Markdown cells. Pure. */

/** What a cell shows for a missing or non-finite value. */
export const DASH = '—';

/** A Markdown table cell: backslashes and pipes escaped, line breaks folded into spaces. */
export function cell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** A fraction as a percentage with `digits` decimals; DASH when not finite. */
export function pct(x: number, digits = 2): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(digits)}%` : DASH;
}

/** 3 significant figures without exponent notation for everyday magnitudes. */
export function num(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return DASH;
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toString();
  if (a < 0.001) return x.toExponential(1);
  return Number(x.toPrecision(3)).toString();
}

/** SI units (1 MB = 10^6 bytes), so sizes compare directly with limits given in bytes. */
export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return DASH;
  if (n < 1000) return `${Math.round(n)} B`;
  if (n < 1e6) return `${num(n / 1e3)} kB`;
  if (n < 1e9) return `${num(n / 1e6)} MB`;
  return `${num(n / 1e9)} GB`;
}

/** A p-value: 4 decimals, exponent notation below 1e-4, and a bound where it underflows to 0. */
export function pValue(p: number): string {
  if (p === 0) return '< 1e-300';
  if (p < 1e-4) return p.toExponential(1);
  return p.toFixed(4);
}

/** A param value: strings as they are, anything else as JSON. */
export function paramValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
}

/** Params as `k=v, …`, cut to `max` characters with an ellipsis; DASH when there are none. */
export function paramsShort(params: Record<string, unknown>, max = 60): string {
  const s = Object.entries(params)
    .map(([k, v]) => `${k}=${paramValue(v)}`)
    .join(', ');
  if (!s) return DASH;
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

/** A feature pipeline as `step → step`, or `raw` when empty. */
export function featuresText(features: readonly string[]): string {
  return features.length ? features.join(' → ') : 'raw';
}

/** Inline Markdown code, with double backticks when the text holds one. */
export function code(s: string): string {
  const ticks = s.includes('`') ? '``' : '`';
  return `${ticks}${s}${ticks}`;
}

/** A file-name-safe slug (lowercase, dashes, at most 60 characters; `run` when nothing is left). */
export function slugify(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'run';
}

/** Text for HTML (the `<details>` summaries and image alt texts): & < > " escaped. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}

/** The distinct values, in first-seen order. */
export function distinct<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

/** The distinct values joined by ` / `; DASH when there are none. */
export function distinctJoin(values: string[]): string {
  return distinct(values).join(' / ') || DASH;
}

/** String order by code unit (not locale), so the report is the same on every machine. */
export const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
