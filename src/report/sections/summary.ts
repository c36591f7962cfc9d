/** The results table: every group ranked by accuracy, with its interval, times, latency, size and status. */
import type { Group } from '../analysis.ts';
import { bytes, cell, DASH, distinctJoin, featuresText, num, paramsShort, pct } from '../format.ts';
import { markdownTable as table } from '../table.ts';

function statusText(g: Group): string {
  const counts = new Map<string, number>();
  for (const r of g.rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  if (counts.size === 1) return g.rows.length === 1 ? g.rows[0]!.status : `${g.rows[0]!.status} ×${g.rows.length}`;
  const order = ['ok', 'failed', 'timeout', 'skipped'];
  return order.filter((s) => counts.has(s)).map((s) => `${s} ${counts.get(s)}/${g.rows.length}`).join(', ');
}

function accuracyText(g: Group): string {
  if (!g.runs.length) return DASH;
  if (g.runs.length === 1) return pct(g.accuracyMean);
  return `${pct(g.accuracyMean)} ± ${(g.accuracySd * 100).toFixed(2)} (n=${g.runs.length})`;
}

/** End to end on the bundle when measured; otherwise the model alone, marked †. */
function latencyText(g: Group): string {
  if (!g.runs.length) return DASH;
  if (g.deploy) return `${num(g.deploy.p50)} / ${num(g.deploy.p95)}`;
  if (g.latencyP50 === undefined) return `≈${num(g.latencyMs)}*`;
  return `${num(g.latencyP50)} / ${num(g.latencyP95)}†`;
}

function sizeText(g: Group): string {
  if (g.deploy) return bytes(g.deploy.bundleBytes);
  return g.modelBytes === undefined ? DASH : `${bytes(g.modelBytes)}†`;
}

/**
 * "one raw 16×16 image" for the dataset's image shape (the report's imageShape option); without it (a
 * re-render that could not load the dataset) "one raw image", since the rows do not carry the shape.
 */
export function rawImageText(imageShape: readonly [number, number] | undefined): string {
  return imageShape ? `one raw ${imageShape[0]}×${imageShape[1]} image` : 'one raw image';
}

export function summarySection(groups: Group[], imageShape?: readonly [number, number]): string {
  const header = ['#', 'classifier', 'params', 'features', 'library', 'engine', 'accuracy', '95% CI', 'macro-F1', 'features s', 'fit s', 'predict s', 'latency p50 / p95 ms', 'bundle', 'peak RSS', 'status'];
  let rank = 0;
  const body = groups.map((g) => {
    const done = g.runs.length > 0;
    return [
      done ? String(++rank) : DASH,
      `**${cell(g.label)}**`,
      cell(paramsShort(g.params)),
      cell(featuresText(g.features)),
      cell(distinctJoin(g.rows.map((r) => r.library))),
      cell(distinctJoin(g.rows.map((r) => r.engine))),
      accuracyText(g),
      g.ci ? `${pct(g.ci.low, 1)} – ${pct(g.ci.high, 1)}` : DASH,
      done ? g.macroF1.toFixed(4) : DASH,
      done ? num(g.featureSeconds) : DASH,
      done ? num(g.fitSeconds) : DASH,
      done ? num(g.predictSeconds) : DASH,
      latencyText(g),
      done ? sizeText(g) : DASH,
      done ? `${Math.round(g.peakRssMb)} MB` : DASH,
      statusText(g),
    ];
  });
  const notes = [
    'Ranked by test accuracy. **95% CI**: Wilson score interval for the test-set size (the spread expected from the choice of test rows); ' +
      'with repetitions, accuracy is the mean ± standard deviation (percentage points) over the n runs and the interval is taken at the mean' +
      (groups.some((g) => g.resampled) ? '; where the repetitions re-drew the split (see Repetitions), it is the 95% t-interval of the mean over them' : '') +
      '.',
    'Times are means over repetitions: **features** (fitting and applying the feature pipeline), **fit** and **predict** (whole test set in one call, features precomputed) in seconds. ' +
      `**Latency** and **bundle** are deployment figures, measured on the run's model bundle in a fresh process: ${rawImageText(imageShape)} per call through the bundle's feature pipeline and model (see Deployment); ` +
      '**peak RSS** is the largest over repetitions.',
    '**Library** says which parts are digitbench\'s own code ("ours") and which the library\'s; **engine** is what ran the numeric work.',
  ];
  if (groups.some((g) => g.runs.length && !g.deploy)) notes.push('† The model alone (no bundle was measured; see Deployment): latency of one feature row per predict call, size of the serialized model.');
  if (groups.some((g) => g.runs.length && !g.deploy && g.latencyP50 === undefined)) notes.push('\\* No single-row latency was measured: predict time ÷ test rows.');
  return ['## Results', '', table(header, body, ['r', 'l', 'l', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']), '', notes.join('\n\n')].join('\n');
}
