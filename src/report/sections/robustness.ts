/**
 * Robustness (issue 24): per run of the largest training size, its bundle on the MNIST-C corruptions of
 * the test images and on out-of-distribution images, as the deploy process measured them (row.robustness):
 * clean and mean corrupted accuracy, mCE, the worst corruption, coverage and sure accuracy at the
 * threshold on clean and corrupted images, the shares of Fashion-MNIST and noise images refused; the
 * accuracy per corruption (table and heat map); and a strip of test digits under each corruption, made
 * here with the runtime's corruptImages. Absent when no run has `robustness` or `robustnessError`.
 */
import { corruptImages, CORRUPTION_NAMES, type CorruptionName } from '@digitbench/runtime/internal';
import type { Group, Run } from '../analysis.ts';
import { cell, DASH, distinct, num, pct } from '../format.ts';
import { captionedStrip, type StripCell } from '../images.ts';
import { markdownTable as table } from '../table.ts';
import type { ReportFile, ReportOptions } from '../types.ts';
import { corruptionChart } from '../vega.ts';
import { imagesFor } from './details.ts';
import { runLabel } from './trust.ts';

/** Test digits drawn under each corruption in the strip. */
const STRIP_DIGITS = 2;

const share = (n: number, total: number) => (total > 0 ? `${pct(n / total)} (${n} of ${total})` : DASH);
const sure = (coverage: number, accuracy: number | null) => `${pct(coverage)} (${accuracy === null ? DASH : pct(accuracy)})`;

/** The section, or undefined when no run of `groups` was measured on corruptions or says why it was not. */
export async function robustnessSection(groups: readonly Group[], files: ReportFile[], opts: ReportOptions = {}): Promise<string | undefined> {
  const runs = groups.flatMap((g) => g.runs.map((run) => ({ g, run, label: runLabel(g, run) })));
  const measured = runs.filter((x) => x.run.row.robustness);
  const failed = runs.filter((x) => !x.run.row.robustness && x.run.row.robustnessError);
  if (!measured.length && !failed.length) return undefined;
  const lines = ['## Robustness', ''];
  if (measured.length) {
    const figures = measured.map((x) => x.run.row.robustness!);
    const names = distinct(figures.flatMap((f) => f.corruptions.map((c) => c.name)));
    const images = distinct(figures.map((f) => String(f.clean.total))).join(' / ');
    const noise = distinct(figures.map((f) => String(f.ood.noise.total))).join(' / ');
    lines.push(
      `Each bundle measured in its fresh process, from raw pixels through its pipeline and model, on the ${images} test images under each of ${names.length} MNIST-C corruption${names.length === 1 ? '' : 's'} ` +
        '(Mu & Gilmer 2019, at the reference code\'s default severities; made once per experiment and split, the same images for every bundle), ' +
        `on Fashion-MNIST test images and on ${noise} uniform-noise images. ` +
        '**mean corrupted** = mean accuracy over the corruptions; **mCE** = mean over the corruptions of (error on the corruption ÷ error on clean), MNIST-C\'s relative error (1: no worse than clean); ' +
        '**coverage (sure accuracy)** = share of images answered, not "unsure", at the bundle\'s threshold, and the accuracy of those answers; ' +
        '**refused** = share of images that are no digit answered "unsure".',
      '',
      table(
        ['classifier', 'clean accuracy', 'mean corrupted', 'mCE', 'worst corruption', 'clean: coverage (sure accuracy)', 'corrupted: coverage (sure accuracy)', 'Fashion-MNIST refused', 'noise refused'],
        measured.map(({ run, label }) => {
          const f = run.row.robustness!;
          const worst = f.corruptions.find((c) => c.name === f.worst);
          const fashion = f.ood.fashion;
          return [
            `**${cell(label)}**`,
            pct(f.clean.accuracy),
            pct(f.meanAccuracy),
            num(f.mce),
            `${cell(f.worst)}${worst ? ` (${pct(worst.accuracy)})` : ''}`,
            sure(f.clean.coverage, f.clean.sureAccuracy),
            sure(f.corrupted.coverage, f.corrupted.sureAccuracy),
            'skipped' in fashion ? 'skipped' : share(fashion.refused, fashion.total),
            share(f.ood.noise.refused, f.ood.noise.total),
          ];
        }),
        ['l', 'r', 'r', 'r', 'l', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
    const skipped = distinct(figures.flatMap((f) => ('skipped' in f.ood.fashion ? [f.ood.fashion.skipped] : [])));
    if (skipped.length) lines.push(`- **Fashion-MNIST skipped:** ${skipped.map(cell).join('; ')}.`);
    const noThreshold = measured.filter((x) => x.run.row.trust && x.run.row.trust.threshold === null).map((x) => x.label);
    const uncalibrated = measured.filter((x) => !x.run.row.trust).map((x) => x.label);
    if (noThreshold.length) lines.push(`- ${noThreshold.join(', ')}: no threshold (every answer "unsure"), so nothing is answered and everything is refused.`);
    if (uncalibrated.length) lines.push(`- ${uncalibrated.join(', ')}: no calibration, so the bundle answers everything and refuses nothing.`);
    const short = measured.filter((x) => {
      const t = x.run.row.trust;
      const a = x.run.row.robustness!.corrupted.sureAccuracy;
      return t && t.threshold !== null && a !== null && a < t.targetAccuracy;
    });
    if (short.length) {
      lines.push(
        `- **Sure answers on corrupted images below the target:** ${short.map((x) => `${x.label} (${pct(x.run.row.robustness!.corrupted.sureAccuracy!)} < ${pct(x.run.row.trust!.targetAccuracy)})`).join(', ')}: the threshold was chosen on clean validation rows.`,
      );
    }
    const total = figures.reduce((a, f) => a + f.seconds, 0);
    lines.push(`- **Time to measure** (corrupted and out-of-distribution images, in the bundle's process): ${measured.map((x) => `${x.label} ${num(x.run.row.robustness!.seconds)} s`).join(', ')}${measured.length > 1 ? `; ${num(total)} s in all` : ''}.`, '');

    // Accuracy per corruption: a column per run, the worst corruption of each in bold.
    const byName = (f: (typeof figures)[number], name: string) => f.corruptions.find((c) => c.name === name);
    lines.push(
      table(
        ['corruption', ...measured.map((x) => cell(x.label))],
        [
          ['clean', ...figures.map((f) => pct(f.clean.accuracy))],
          ...names.map((name) => [cell(name), ...figures.map((f) => {
            const c = byName(f, name);
            if (!c) return DASH;
            return name === f.worst ? `**${pct(c.accuracy)}**` : pct(c.accuracy);
          })]),
          ['**mean over the corruptions**', ...figures.map((f) => `**${pct(f.meanAccuracy)}**`)],
        ],
        ['l', ...measured.map(() => 'r' as const)],
      ),
      '',
    );
    const svg = await corruptionChart(
      measured.flatMap(({ run, label }) => {
        const f = run.row.robustness!;
        return [{ classifier: label, corruption: 'clean', accuracy: f.clean.accuracy }, ...f.corruptions.map((c) => ({ classifier: label, corruption: c.name, accuracy: c.accuracy }))];
      }),
    );
    files.push({ name: 'corruptions.svg', bytes: new TextEncoder().encode(svg) });
    lines.push('![Test accuracy per classifier under each corruption](corruptions.svg)', '');
    lines.push(...strip(measured.map((x) => x.run), names, files, opts));
  }
  if (failed.length) {
    const reasons = distinct(failed.map((x) => x.run.row.robustnessError!));
    lines.push(`**Not measured:** ${reasons.map((r) => `${failed.filter((x) => x.run.row.robustnessError === r).map((x) => x.label).join(', ')}: ${r}`).join('; ')}.`);
  }
  return lines.join('\n').trimEnd();
}

/**
 * The strip of sample corrupted digits: the first test digits of the first measured run whose test
 * images the report was given, as they are and under each corruption (corruptImages with the
 * experiment's seed, as the measurement uses it: each image has its own stream, so these are the very
 * images the bundles saw), written as corrupted-digits.png with the names in a table below it.
 */
function strip(runs: readonly Run[], names: readonly string[], files: ReportFile[], opts: ReportOptions): string[] {
  const known = names.filter((n): n is CorruptionName => (CORRUPTION_NAMES as readonly string[]).includes(n));
  const run = runs.find((r) => imagesFor(r, opts));
  if (!run || !known.length) return [];
  const images = imagesFor(run, opts)!;
  const [h, w] = opts.imageShape ?? [Math.round(Math.sqrt(images.cols)), Math.round(Math.sqrt(images.cols))];
  if (h * w !== images.cols) return [];
  const digits = Math.min(STRIP_DIGITS, images.rows);
  const first = images.data.subarray(0, digits * h * w);
  // The measurement corrupts with the experiment's seed; a run's seed is that plus its repetition.
  const seed = run.row.seed - run.row.repetition;
  const corrupted = known.map((name) => corruptImages(name, first, digits, h, w, seed));
  // Each digit starts a grid row: as few rows per digit as the 8-column limit allows, as even as can be.
  const perDigit = known.length + 1;
  const rowsPerDigit = Math.ceil(perDigit / 8);
  const columns = Math.ceil(perDigit / rowsPerDigit);
  const slots = rowsPerDigit * columns;
  const cells: (StripCell | null)[] = [];
  const captions: string[] = ['clean', ...known];
  for (let d = 0; d < digits; d++) {
    cells.push({ pixels: first.subarray(d * h * w, (d + 1) * h * w), caption: 'clean' });
    known.forEach((name, k) => cells.push({ pixels: corrupted[k]!.subarray(d * h * w, (d + 1) * h * w), caption: name }));
    for (let i = perDigit; i < slots; i++) cells.push(null);
  }
  const grid = captionedStrip(cells, [h, w], { columns });
  files.push({ name: 'corrupted-digits.png', bytes: grid.png });
  const name = (l: number) => opts.classNames?.[l] ?? String(l);
  const which = Array.from({ length: digits }, (_, d) => {
    const rows = rowsPerDigit === 1 ? `row ${d + 1}` : `rows ${d * rowsPerDigit + 1}–${(d + 1) * rowsPerDigit}`;
    return `${rows}: test row ${d}${run.labels ? `, a ${cell(name(run.labels[d]!))}` : ''}`;
  });
  return [
    `**Sample corrupted digits:** the first ${digits === 1 ? 'test digit' : `${digits} test digits`} as they are and under each corruption, made with the experiment's seed (${seed}) as the measurement makes them (${which.join('; ')}):`,
    '',
    '![The first test digits under each corruption](corrupted-digits.png)',
    '',
    table(
      ['row', ...Array.from({ length: columns }, (_, i) => String(i + 1))],
      Array.from({ length: rowsPerDigit }, (_, r) => [
        `**${Array.from({ length: digits }, (_, d) => d * rowsPerDigit + r + 1).join(', ')}**`,
        ...Array.from({ length: columns }, (_, c) => cell(captions[r * columns + c] ?? '')),
      ]),
    ),
    '',
  ];
}
