/**
 * Confidence and "unsure" (issue 24): per run of the largest training size, how its scores became
 * logits, the fitted temperature, ECE / NLL / Brier on the test rows before and after calibration, the
 * threshold chosen on validation rows and the coverage and accuracy at it (validation, and test as
 * measured); the reliability diagram and the accuracy–coverage chart; and the runs without calibration
 * with their reasons. Absent when no run has `trust` or `noTrust`.
 */
import type { Group, Run } from '../analysis.ts';
import { cell, DASH, distinct, num, pct } from '../format.ts';
import { markdownTable as table } from '../table.ts';
import type { ReportFile } from '../types.ts';
import { coverageChart, reliabilityChart } from '../vega.ts';

/** A run's label in the section's tables and charts: the group's, with the run's number when the group has several. */
export function runLabel(g: Group, run: Run): string {
  return g.runs.length > 1 ? `${g.label} (run ${g.runs.indexOf(run) + 1} of ${g.runs.length})` : g.label;
}

/**
 * A confidence threshold with 4 decimals; one within 0.00005 of 1 (a CNN's often is) as "1 − 1.2e-5",
 * so it never reads as 1.
 */
export function confidenceText(t: number): string {
  return t < 1 && 1 - t < 5e-5 ? `1 − ${(1 - t).toExponential(1)}` : t.toFixed(4);
}

const change = (before: number, after: number) => `${num(before)} → ${num(after)}`;

/** The section, or undefined when no run of `groups` has calibration figures or a reason for none. */
export async function trustSection(groups: readonly Group[], files: ReportFile[]): Promise<string | undefined> {
  const runs = groups.flatMap((g) => g.runs.map((run) => ({ g, run, label: runLabel(g, run) })));
  const trusted = runs.filter((x) => x.run.row.trust);
  const without = runs.filter((x) => !x.run.row.trust && x.run.row.noTrust);
  if (!trusted.length && !without.length) return undefined;
  const lines = ['## Confidence and “unsure”', ''];
  if (trusted.length) {
    const trusts = trusted.map((x) => x.run.row.trust!);
    const validationRows = distinct(trusts.map((t) => String(t.validationRows))).join(' / ');
    const targets = distinct(trusts.map((t) => pct(t.targetAccuracy)));
    lines.push(
      `Calibration is temperature scaling (the logits divided by one temperature T; labels never change), fitted on the ${validationRows} validation rows only; the test rows are read only once T and the threshold are fixed. ` +
        '**logits**: log(max(score, ε)) of probability-like scores (the floor ε fitted with T), decision values as they are, or for an SVM\'s one-vs-rest scores (one-vs-one votes plus a bounded fraction) the sum of each class\'s one-vs-one margins, recovered from the fraction. ' +
        "**ECE** = expected calibration error over 15 equal-width bins of the top label's confidence; **NLL** = mean negative log-likelihood (natural log); **Brier** = mean squared error of the probability vector (0 – 2); " +
        'each on the test rows, **before** (the raw scores read as probabilities: probability-like scores as they are, decision values through a softmax at T = 1) → **after** calibration. ' +
        `**Threshold**: the lowest calibrated confidence at which the validation rows answered reach the target accuracy (${targets.join(' / ')}); below it a bundle answers "unsure". ` +
        'Coverage = share of rows answered (not "unsure"); the test figures at the threshold are measured on the test rows, not assumed. ' +
        "The raw scores stay available (a prediction's `scores`); `confidence` and `unsure` come from the calibration.",
      '',
      table(
        ['classifier', 'logits', 'T', 'ECE before → after', 'NLL before → after', 'Brier before → after', 'threshold', 'validation: coverage (accuracy)', 'test: coverage', 'test: accuracy at the threshold'],
        trusted.map(({ run, label }) => {
          const t = run.row.trust!;
          const at = t.test.atThreshold;
          const none = t.threshold === null;
          return [
            `**${cell(label)}**`,
            t.logits === 'decision' ? 'decision values' : t.logits === 'ovr-votes' ? 'one-vs-one margins' : `log, ε = ${num(t.eps)}`,
            num(t.temperature),
            change(t.test.before.ece, t.test.after.ece),
            change(t.test.before.nll, t.test.after.nll),
            change(t.test.before.brier, t.test.after.brier),
            none ? 'none reaches the target: every answer unsure' : confidenceText(t.threshold!),
            none ? DASH : `${pct(t.validation.coverage)} (${pct(t.validation.accuracy)})`,
            pct(at.coverage),
            at.accuracy === null ? DASH : `${pct(at.accuracy)} (${at.answered} of ${run.total})`,
          ];
        }),
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
    const short = trusted.filter(({ run }) => {
      const t = run.row.trust!;
      return t.test.atThreshold.accuracy !== null && t.test.atThreshold.accuracy < t.targetAccuracy;
    });
    if (short.length) {
      lines.push(
        `- **Below the target on the test rows:** ${short.map(({ run, label }) => `${label} (${pct(run.row.trust!.test.atThreshold.accuracy!)} < ${pct(run.row.trust!.targetAccuracy)})`).join(', ')}: ` +
          'the threshold met the target on the validation rows it was chosen on, not on these.',
      );
    }
    const none = trusted.filter(({ run }) => run.row.trust!.threshold === null);
    if (none.length) {
      lines.push(`- **No threshold:** ${none.map((x) => x.label).join(', ')}: at no confidence level do the validation rows answered reach the target accuracy, so the bundle answers every image "unsure".`);
    }
    const rose = trusted.filter(({ run }) => run.row.trust!.test.after.ece > run.row.trust!.test.before.ece);
    if (rose.length) {
      lines.push(`- **ECE rose with calibration** for ${rose.map((x) => x.label).join(', ')}: the temperature minimises the validation log-loss, not the ECE (see the NLL column).`);
    }
    if (short.length || none.length || rose.length) lines.push('');

    // The charts show each group's first calibrated run.
    const shown = groups.flatMap((g) => {
      const run = g.runs.find((r) => r.row.trust);
      return run ? [{ g, run, t: run.row.trust! }] : [];
    });
    const several = groups.some((g) => g.runs.filter((r) => r.row.trust).length > 1);
    files.push({ name: 'reliability.svg', bytes: new TextEncoder().encode(await reliabilityChart(shown.map(({ g, t }) => ({ classifier: g.label, before: t.test.reliability.before, after: t.test.reliability.after })))) });
    const target = trusts[0]!.targetAccuracy;
    files.push({
      name: 'accuracy-coverage.svg',
      bytes: new TextEncoder().encode(
        await coverageChart(
          shown.map(({ g, t }) => ({
            classifier: g.label,
            curve: t.test.curve,
            ...(t.threshold !== null && t.test.atThreshold.accuracy !== null ? { atThreshold: { coverage: t.test.atThreshold.coverage, accuracy: t.test.atThreshold.accuracy } } : {}),
          })),
          targets.length === 1 ? target : undefined,
        ),
      ),
    });
    lines.push(
      `![Reliability diagram per classifier on the test rows, before and after calibration](reliability.svg)`,
      '',
      `![Accuracy vs coverage on the test rows per classifier, with the target accuracy](accuracy-coverage.svg)`,
      '',
    );
    if (several) lines.push("The charts show each classifier's first run.", '');
  }
  if (without.length) {
    const reasons = distinct(without.map((x) => x.run.row.noTrust!));
    const text = reasons.map((r) => `${without.filter((x) => x.run.row.noTrust === r).map((x) => x.label).join(', ')}: ${r}`);
    lines.push(`**No calibration** (such a bundle never answers "unsure"): ${text.join('; ')}.`);
  }
  return lines.join('\n').trimEnd();
}
