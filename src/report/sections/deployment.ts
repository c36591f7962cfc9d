/** Deployment: the bundle figures, the accuracy–latency chart, the Pareto set and the pick within the limits. */
import { deploymentPareto } from '../../metrics/pareto.ts';
import type { BrowserRow } from '../../results/row.ts';
import { axisValue, browserView, byAxis, choose, deploymentCandidates, type BrowserFigures, type Group } from '../analysis.ts';
import { bytes, cell, code, DASH, num, pct } from '../format.ts';
import { markdownTable as table } from '../table.ts';
import { rawImageText } from './summary.ts';
import { BUNDLES_OFF, type DeployLimits, type ReportFile } from '../types.ts';
import { accuracyLatencyChart } from '../vega.ts';

/**
 * Node on each engine, where the runs measured both (deploy-child.ts: the bundle loaded by @digitbench/runtime's
 * loadModel with engine 'ort' and 'js'): p50 / p95 and cold start, means over the group's runs.
 */
function enginePart(deployable: Group[]): string[] {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const rows: string[][] = [];
  for (const g of deployable) {
    const e = g.runs.map((r) => r.row.deployment?.engines).filter((x) => x !== undefined);
    if (!e.length) continue;
    const f = (k: 'ort' | 'js', v: 'latencyMsP50' | 'latencyMsP95' | 'coldStartMs') => num(mean(e.map((x) => x[k][v])));
    const differ = e.reduce((n, x) => n + x.labelsAgree.total - x.labelsAgree.same, 0);
    rows.push([
      `**${cell(g.label)}**${differ ? ` (labels differ on ${differ} of ${e.reduce((n, x) => n + x.labelsAgree.total, 0)} rows)` : ''}`,
      `${f('ort', 'latencyMsP50')} (ort) / ${f('js', 'latencyMsP50')} (js)`,
      `${f('ort', 'latencyMsP95')} / ${f('js', 'latencyMsP95')}`,
      `${f('ort', 'coldStartMs')} / ${f('js', 'coldStartMs')}`,
      cell(e[0]!.ort.engine),
    ]);
  }
  if (!rows.length) return [];
  return [
    "**On each engine** (Node, the bundle as an app loads it: `loadModel(file, { engine })` of @digitbench/runtime; 'ort' = onnxruntime-node, the default where it is installed, 'js' = plain JS and the CNN on tfjs; " +
      `${rows.length === deployable.length ? '' : 'bundles measured without onnxruntime-node are left out; '}the labels of the timed calls are compared between them, and the figures above and the pick are the workbench plugins' own, on the engine the run used):`,
    '',
    table(['classifier', 'latency p50 ms', 'p95 ms: ort / js', 'cold start ms: ort / js', 'ort engine'], rows, ['l', 'r', 'r', 'r', 'l']),
    '',
  ];
}

/** Node and browser side by side, per bundle measured in a browser (`digitbench browser-bench`). */
function browserPart(deployable: Group[], rows: readonly BrowserRow[], imageShape: readonly [number, number] | undefined): string[] {
  const views = deployable.map((g) => ({ g, v: browserView(g, rows) })).filter((x) => x.v !== undefined);
  if (!views.length) return [];
  const lines = ['### In the browser', ''];
  const first = rows.find((r) => r.status === 'ok') ?? rows[0]!;
  const res = (f?: BrowserFigures) => (f ? num(f.timerResolutionMs) : DASH);
  const plain = views.find((x) => x.v!.plain)?.v!.plain;
  const iso = views.find((x) => x.v!.isolated)?.v!.isolated;
  lines.push(
    `The same bundles, loaded by a web page in ${first.browser} through the same plugin code bundled for the browser (\`digitbench browser-bench\`, ${first.measuredAt.slice(0, 10)}, ${first.cores} cores). ` +
      'Each model is measured in a fresh browser context (empty cache) on a page that holds only it: **download** = what the page fetched to run it (page, scripts, wasm, bundle), gzip-encoded as sent; ' +
      '**cold start** = navigation start → first prediction (page and scripts + bundle download + rebuild, incl. the plugin chunk and engine start + first prediction); ' +
      `**latency** = ${rawImageText(imageShape)} per call, p50 / p95 over every timed call, as in Node; **agrees** = test rows on which the page gives the run's Node label. ` +
      `**Plain** page: no COOP/COEP headers (clock step ${res(plain)} ms); **isolated**: COOP/COEP, cross-origin isolated (tfjs-wasm loads its threaded build; clock step ${res(iso)} ms). ` +
      'Latencies near the clock step are coarse. Download, cold start and agreement are those of the isolated page (the one a browser target uses) when it was measured.',
    '',
  );
  // A figure below the page's clock step is shown as "< step".
  const t = (x: number, f: BrowserFigures) => (x < f.timerResolutionMs ? `< ${num(f.timerResolutionMs)}` : num(x));
  const lat = (f?: BrowserFigures) => (f ? `${t(f.p50, f)} / ${t(f.p95, f)}` : DASH);
  lines.push(
    table(
      ['classifier', 'download (gzip)', 'cold start ms: Node / browser', 'latency p50 / p95 ms: Node', 'browser, plain', 'browser, isolated', 'browser engine', 'agrees'],
      views.map(({ g, v }) => {
        const d = g.deploy!;
        const u = v!.used;
        if (!u) return [`**${cell(g.label)}**`, DASH, `${num(d.coldStartMs)} / ${DASH}`, `${num(d.p50)} / ${num(d.p95)}`, cell(`cannot run: ${v!.failed}`), DASH, DASH, DASH];
        const other = u === v!.isolated ? v!.plain : v!.isolated;
        const agreeText = `${u.same} / ${u.total}${other ? (other.same === other.total ? ' (both pages)' : `; plain page ${other.same} / ${other.total}`) : ''}`;
        const allSame = u.same === u.total && (!other || other.same === other.total);
        return [
          `**${cell(g.label)}**`,
          bytes(u.downloadGzipBytes),
          `${num(d.coldStartMs)} / ${num(u.coldStartMs)}`,
          `${num(d.p50)} / ${num(d.p95)}`,
          lat(v!.plain),
          lat(v!.isolated),
          cell(`${u.engine}${u.threads > 1 ? `, ${u.threads} threads` : ''}`),
          allSame ? agreeText : `**${agreeText}**`,
        ];
      }),
      ['l', 'r', 'r', 'r', 'r', 'r', 'l', 'r'],
    ),
    '',
  );
  const isoTf = views.map((x) => x.v!.isolated).filter((f): f is BrowserFigures => !!f && f.engine.includes('tfjs-wasm'));
  if (isoTf.length && isoTf.every((f) => f.threads === 1)) {
    lines.push(
      '- The isolated page loads tfjs-wasm\'s threaded build and asks it for one thread per core, yet it runs one (in tfjs 4.22 `setThreadsCount` has no effect: tensorflow/tfjs#8513), so isolation changed the clock and the wasm build, not the thread count.',
      '',
    );
  }
  const differ = views.filter(({ v }) => v!.used && [v!.plain, v!.isolated].some((f) => f && f.same !== f.total));
  for (const { g, v } of differ) {
    const rowsDiffer = [...new Map([v!.plain, v!.isolated].flatMap((f) => f?.differing ?? []).map((x) => [x.row, x])).values()].slice(0, 5);
    lines.push(`- **${g.label}** differs from Node on ${rowsDiffer.map((x) => `test row ${x.row} (page ${x.browser}, Node ${x.node}; page scores ${x.top})`).join('; ')}.`);
  }
  if (differ.length) lines.push('');
  return lines;
}

export async function deploymentSection(
  groups: Group[],
  limits: DeployLimits,
  files: ReportFile[],
  browserRows: readonly BrowserRow[] = [],
  imageShape?: readonly [number, number],
): Promise<string> {
  const done = groups.filter((g) => g.runs.length > 0);
  const lines = ['## Deployment', ''];
  if (!done.length) {
    lines.push('No run finished; nothing to deploy.');
    return lines.join('\n');
  }
  if (done.every((g) => g.runs.every((r) => r.row.noBundle === BUNDLES_OFF))) {
    lines.push('This experiment writes no bundles (`"bundles": false`), so there are no deployment figures; run one without it (e.g. `quick`) to measure and pick a model to ship.');
    return lines.join('\n');
  }
  const deployable = done.filter((g) => g.deploy);
  const notDeployable = done.filter((g) => !g.deploy);
  lines.push(
    "Every finished run leaves a **model bundle** (`models/…` beside this report): the feature pipeline with its fitted state, the model and its metadata in one file, " +
      `which \`digitbench predict\` and \`loadModel()\` read. The figures below are measured on that bundle, in a fresh process, from ${imageShape ? `raw ${imageShape[0]}×${imageShape[1]} pixels` : 'raw pixels'} through the pipeline and the model: ` +
      '**cold start** = read + check + rebuild + first prediction (modules already imported); **latency** = one image per call, p50 / p95 over every timed call, ' +
      'and the range of the per-pass p50s; **throughput** = images per second predicting a batch in one call (1,000 images, or the whole test set when smaller); **agrees** = test rows on which the bundle gives the run\'s own label. ' +
      '**Model only** is the latency of the model on precomputed features and the size of its serialized bytes, for comparison.',
    '',
  );
  if (deployable.length) {
    lines.push(
      table(
        ['classifier', 'bundle', 'size', 'cold start ms', 'latency p50 / p95 ms', 'pass p50 range ms', 'images / s', 'threads', 'agrees', 'model only: latency p50 ms, size'],
        deployable.map((g) => {
          const d = g.deploy!;
          return [
            `**${cell(g.label)}**`,
            cell(g.bundleFiles.map((f) => code(f)).join(', ')),
            bytes(d.bundleBytes),
            num(d.coldStartMs),
            `${num(d.p50)} / ${num(d.p95)}`,
            `${num(d.passLo)} – ${num(d.passHi)} (${d.passes} passes, ${d.calls} calls)`,
            num(d.throughput),
            String(d.threads),
            d.same === d.total ? `${d.same} / ${d.total}` : `**${d.same} / ${d.total}**`,
            `${g.latencyP50 === undefined ? DASH : num(g.latencyP50)}, ${bytes(g.modelBytes)}`,
          ];
        }),
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
    lines.push(...enginePart(deployable));
    const disagree = deployable.filter((g) => g.deploy!.same !== g.deploy!.total);
    if (disagree.length) lines.push(`> [!WARNING]\n> The bundle's labels differ from the run's on some test rows for ${disagree.map((g) => g.label).join(', ')}: the bundle does not reproduce the run exactly.`, '');
  }
  if (notDeployable.length) {
    lines.push(`**No bundle figures:** ${notDeployable.map((g) => `${g.label} (${g.undeployable})`).join('; ')}. They are left out of the Pareto set and the pick.`, '');
  }
  const refits = done.flatMap((g) => g.runs.flatMap((r) => (r.row.refit ? [{ label: g.label, row: r.row, refit: r.row.refit }] : [])));
  if (refits.length) {
    lines.push(
      '**Refitted to ship** (`"refit": "all"`): once each run was tested, the same setting was fitted again on its training plus test rows and written as a second bundle (its header says so). ' +
        'These bundles are **untested**: every figure in this report is the tested bundle\'s, which they inherit.',
      '',
      table(
        ['classifier', 'refitted bundle (untested)', 'fitted on rows', 'size', 'tested bundle', 'inherited test accuracy'],
        refits.map(({ label, row, refit }) => [`**${cell(label)}**`, code(refit.file), String(refit.trainRows), bytes(refit.bytes), row.bundle ? code(row.bundle.file) : DASH, pct(row.metrics.accuracy)]),
        ['l', 'l', 'r', 'r', 'l', 'r'],
      ),
      '',
    );
  }
  lines.push(...compactPart(done));
  if (!deployable.length) return lines.join('\n').trimEnd();
  lines.push(...browserPart(deployable, browserRows, imageShape));
  return (await paretoAndPick(lines, deployable, limits, files, browserRows)).join('\n');
}

/** Change in accuracy, percentage points, signed. */
function points(x: number): string {
  const p = x * 100;
  return Math.abs(p) < 0.005 ? '0.00' : `${p > 0 ? '+' : '−'}${Math.abs(p).toFixed(2)}`;
}

/** The compact bundles (bundle.precision) beside each float32 bundle: size, accuracy, agreement, and Node figures. */
function compactPart(done: Group[]): string[] {
  const withCompact = done.filter((g) => g.compact?.length);
  if (!withCompact.length) return [];
  const lines = [
    '### Compact bundles',
    '',
    "Each run's model also written with its large arrays stored at lower precision (`bundle.precision`), decoded to float32 when the bundle loads: " +
      "**float16** (IEEE half, nearest); **int8** (256 levels between a minimum and maximum kept per feature for k-NN rows and support vectors, per output unit for CNN kernels, per feature for tree thresholds; an SVM's coefficients stay float16, a CNN's biases float32). " +
      'Tree thresholds are rounded down, so a row equal to a threshold keeps its side; trees also store their node indices in 16 bits. ' +
      "**agrees** = test rows on which the compact model gives the float32 model's label; **change** = its test accuracy minus the float32 model's, in points. Latency and cold start are measured as above, on the compact bundle.",
    '',
  ];
  const rows: string[][] = [];
  for (const g of withCompact) {
    const base = g.deploy?.bundleBytes ?? (g.runs.every((r) => r.row.bundle) ? g.runs.reduce((a, r) => a + r.row.bundle!.bytes, 0) / g.runs.length : undefined);
    rows.push([`**${cell(g.label)}**`, 'float32', cell(g.bundleFiles.map((f) => code(f)).join(', ')), bytes(base), '1', pct(g.accuracyMean), DASH, DASH, g.deploy ? num(g.deploy.p50) : DASH, g.deploy ? num(g.deploy.coldStartMs) : DASH]);
    for (const c of g.compact!) {
      if (c.accuracy === undefined) {
        rows.push(['', c.precision, cell(c.error ?? DASH), DASH, DASH, DASH, DASH, DASH, DASH, DASH]);
        continue;
      }
      const agree = `${c.same} / ${c.total}`;
      rows.push([
        '',
        c.precision,
        cell(c.files.map((f) => code(f)).join(', ')),
        bytes(c.bundleBytes),
        base ? (c.bundleBytes! / base).toFixed(3) : DASH,
        pct(c.accuracy),
        points(c.accuracy - g.accuracyMean),
        c.same === c.total ? agree : `**${agree}**`,
        c.deploy ? num(c.deploy.p50) : cell(c.error ?? DASH),
        c.deploy ? num(c.deploy.coldStartMs) : DASH,
      ]);
    }
  }
  lines.push(table(['classifier', 'precision', 'bundle', 'size', '× float32', 'accuracy', 'change (points)', 'agrees with float32', 'latency p50 ms', 'cold start ms'], rows, ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']), '');
  const unmeasured = withCompact.flatMap((g) => g.compact!.filter((c) => c.accuracy !== undefined && !c.deploy).map((c) => `${g.label} (${c.precision})`));
  lines.push(
    unmeasured.length
      ? `Compact bundles with Node figures are candidates in the Pareto set and the pick below (a compact bundle ranks after an equally accurate float32 one); ${unmeasured.join(', ')} could not be measured and are left out.`
      : 'Compact bundles are candidates in the Pareto set and the pick below, labelled with their precision (a compact bundle ranks after an equally accurate float32 one).',
    '',
  );
  return lines;
}

async function paretoAndPick(lines: string[], all: Group[], limits: DeployLimits, files: ReportFile[], browserRows: readonly BrowserRow[]): Promise<string[]> {
  const browser = limits.target === 'browser';
  const deployable = deploymentCandidates(all, limits.target, browserRows);
  if (browser) {
    if (!deployable.length) {
      lines.push('`deploy.target` is `browser`, but no bundle has browser figures yet: run `digitbench browser-bench <this folder>` to measure them and pick.');
      return lines;
    }
    lines.push(
      `**Target: the browser** (\`deploy.target\`): the chart, the Pareto set and the pick below use the browser figures (latency of the page mode with the lower p50, the gzip download as the size)${deployable.length < all.length ? `; ${all.length - deployable.length} bundle(s) without them are left out` : ''}.`,
      '',
    );
  }
  const coverageAxis = limits.axis === 'coverage';
  // On the coverage axis, only bundles with a threshold take part (coverage needs the calibration).
  const onAxis = coverageAxis ? byAxis(deployable, 'coverage').filter((g) => g.trust) : deployable;
  if (coverageAxis) {
    lines.push(
      `**Axis: coverage** (\`deploy.axis\`): the chart, the Pareto set and the pick rank bundles by the share of clean test images they answer (not "unsure") at their threshold for the target accuracy, instead of by accuracy${onAxis.length < deployable.length ? `; ${deployable.length - onAxis.length} bundle(s) without a calibration are left out` : ''}.`,
      '',
    );
    if (!onAxis.length) {
      lines.push('No bundle has a calibration and threshold (the split has no validation part), so nothing can be ranked by coverage.');
      return lines;
    }
  }
  const axisName = coverageAxis ? 'coverage' : 'accuracy';
  const cands = onAxis.map((g) => ({ g, accuracy: axisValue(g, limits.axis), latencyMs: g.deploy!.p50, modelBytes: g.deploy!.bundleBytes }));
  const front = deploymentPareto(cands).map((i) => cands[i]!.g);
  const svg = await accuracyLatencyChart(
    onAxis.map((g) => ({ label: g.label, latencyMs: g.deploy!.p50, accuracy: axisValue(g, limits.axis), pareto: front.includes(g) })),
    { ...(limits.maxLatencyMs !== undefined ? { maxLatencyMs: limits.maxLatencyMs } : {}), ...(coverageAxis ? { title: 'Coverage at the target accuracy vs end-to-end latency per image', yTitle: 'answered test images at the threshold, %' } : {}) },
  );
  files.push({ name: 'accuracy-latency.svg', bytes: new TextEncoder().encode(svg) });
  lines.push(`![${coverageAxis ? 'Coverage' : 'Accuracy'} vs end-to-end latency per image (filled: the Pareto set of ${axisName}, latency and size)](accuracy-latency.svg)`, '');
  lines.push(
    `**Pareto set** (no other classifier ${coverageAxis ? 'covers at least as much' : 'is at least as accurate'}, as fast end to end and as small a bundle, and better in one): ${front.length} of ${onAxis.length}.`,
    '',
    table(
      ['classifier', 'accuracy', ...(coverageAxis ? ['coverage'] : []), 'latency p50 ms', 'bundle'],
      front.map((g) => [`**${cell(g.label)}**`, pct(g.accuracyMean), ...(coverageAxis ? [pct(g.trust!.coverage)] : []), num(g.deploy!.p50), bytes(g.deploy!.bundleBytes)]),
      ['l', 'r', ...(coverageAxis ? (['r'] as const) : []), 'r', 'r'],
    ),
    '',
  );
  const trustText = (g: Group) =>
    [g.trust ? `coverage ${pct(g.trust.coverage)} at the threshold, ECE ${num(g.trust.ece)}` : '', g.corruptedAccuracy !== undefined ? `mean corrupted accuracy ${pct(g.corruptedAccuracy)}` : ''].filter(Boolean).join(', ');
  const describe = (g: Group) =>
    `**${g.label}**: ${pct(g.accuracyMean)}, ${num(g.deploy!.p50)} ms per image end to end${browser ? ' in the browser' : ''} (passes ${num(g.deploy!.passLo)} – ${num(g.deploy!.passHi)}), ${browser ? 'download' : 'bundle'} ${bytes(g.deploy!.bundleBytes)}${trustText(g) ? `, ${trustText(g)}` : ''} (${code(g.bundleFiles[0]!)})`;
  const { maxLatencyMs, maxModelBytes, minCoverage, minCorruptedAccuracy, maxEce } = limits;
  if ([maxLatencyMs, maxModelBytes, minCoverage, minCorruptedAccuracy, maxEce].every((v) => v === undefined)) {
    const fastest = [...onAxis].sort((a, b) => a.deploy!.p50 - b.deploy!.p50 || b.accuracyMean - a.accuracyMean)[0]!;
    const smallest = [...onAxis].sort((a, b) => a.deploy!.bundleBytes - b.deploy!.bundleBytes || b.accuracyMean - a.accuracyMean)[0]!;
    lines.push(
      'No deployment limits were set (add `"deploy": {"maxLatencyMs": …, "maxModelBytes": …, "minCoverage": …, "minCorruptedAccuracy": …, "maxEce": …}` to the experiment config).',
      '',
      `- ${coverageAxis ? 'Highest coverage' : 'Most accurate'}: ${describe(onAxis[0]!)}`,
      `- Fastest: ${describe(fastest)}`,
      `- Smallest: ${describe(smallest)}`,
    );
    return lines;
  }
  const limitText = [
    maxLatencyMs !== undefined ? `latency p50 ≤ ${num(maxLatencyMs)} ms per image, end to end` : '',
    maxModelBytes !== undefined ? `bundle ≤ ${bytes(maxModelBytes)}` : '',
    minCoverage !== undefined ? `coverage ≥ ${pct(minCoverage)} at the target accuracy` : '',
    minCorruptedAccuracy !== undefined ? `mean corrupted accuracy ≥ ${pct(minCorruptedAccuracy)}` : '',
    maxEce !== undefined ? `ECE ≤ ${num(maxEce)}` : '',
  ]
    .filter(Boolean)
    .join(' and ');
  const { pick, contenders, passedOver } = choose(onAxis, limits);
  const straddle = (g: Group) => `${g.label} (${pct(g.accuracyMean)}; latency p50 ${num(g.deploy!.p50)} ms, passes ${num(g.deploy!.passLo)} – ${num(g.deploy!.passHi)} ms)`;
  if (pick) lines.push(`**Best within the limits** (${limitText}): ${describe(pick)}.`);
  else lines.push(`**No classifier meets the limits** (${limitText}).`);
  // What decided it: the higher-ranked bundles and the figure that ruled each out.
  lines.push(
    '',
    passedOver.length
      ? `**What decided it:** ${passedOver.map((p) => `${p.g.label} (${axisName} ${pct(axisValue(p.g, limits.axis))}) fails ${p.failed.join(', ')}`).join('; ')}.`
      : `**What decided it:** ${axisName} alone; the ${coverageAxis ? 'highest-coverage' : 'most accurate'} bundle meets every limit.`,
  );
  if (contenders.length) {
    lines.push(
      '',
      `**The pick is uncertain:** the per-pass latencies of ${contenders.map(straddle).join(', ')} fall on both sides of the ${num(maxLatencyMs)} ms limit, ` +
        'so another run (or machine) could pick differently; measure on the deployment machine (or raise `deploy.passes`) before choosing.',
    );
  }
  return lines;
}
