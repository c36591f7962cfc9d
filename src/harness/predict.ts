/**
 * `digitbench predict <bundle | report folder> <input…>`: labels for the user's own digit images.
 * A report folder means the bundle its deployment section picks (or `--model <label>`).
 * One line per input on stdout: the label and its confidence, or "unsure" with the best guess when the
 * confidence is below the bundle's threshold (`trust`, fitted on the run's validation rows), then the raw
 * top scores; a last line says so when the bundle has no trust. `--json` gives each prediction's
 * `confidence` (0..1; none for a model without scores) and `unsure`, and the bundle's `trust`. A bad input
 * is a one-line error on stderr, the others are still predicted, and the exit code is non-zero. The bundle is data: its plugin is a built-in or one of the
 * files given with --plugin (the user's own code), matched by name; nothing the bundle names is run.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../bundle/file.ts';
import { quoteLine } from '@digitbench/runtime/internal';
import type { DigitModel, Prediction } from '@digitbench/runtime/internal';
import { loadPluginFiles } from '../classifiers/registry.ts';
import { readInputs } from '../input/decode.ts';
import { deploymentChoice } from '../report/markdown.ts';
import { reportRows } from './report-rows.ts';

export interface PredictOptions {
  model?: string;
  json?: boolean;
  top: number;
  /** Plugin files (paths from the working folder) for bundles whose plugin is not built in. */
  plugins?: string[];
}

export interface PredictOutcome {
  /** Lines for stdout (text or one JSON document). */
  out: string;
  /** One-line messages for stderr: which bundle, and each bad input. */
  notes: string[];
  failed: number;
}

/** The bundle file a `predict` argument names: the file itself, or the pick (or --model) of a report folder. */
export async function resolveBundle(target: string, model: string | undefined): Promise<{ file: string; why?: string }> {
  if (!existsSync(target) || !statSync(target).isDirectory()) {
    if (model) throw new Error(`--model picks a bundle inside a report folder, but ${target} is not a folder; give the report folder (e.g. runs/quick) or drop --model.`);
    return { file: target };
  }
  if (!existsSync(join(target, 'results.jsonl'))) throw new Error(`${target} is a folder without results.jsonl; give a report folder (e.g. runs/quick) or a .bundle file.`);
  const { rows, config, browser } = await reportRows(target);
  const choice = deploymentChoice(rows, { config, browser });
  if (model) {
    const found = [...choice.bundles, ...choice.compact].find((b) => b.label === model);
    if (!found) {
      throw new Error(`${target} has no bundle for "${model}"; use one of ${[...choice.bundles, ...choice.compact].map((b) => b.label).join(', ') || '(none: run the experiment first)'}.`);
    }
    return { file: present(target, found.file) };
  }
  if (!choice.pick) {
    throw new Error(`${target}: no bundle meets the report's deployment limits; name one with --model (${choice.bundles.map((b) => b.label).join(', ') || 'none'}).`);
  }
  const uncertain = choice.uncertain.length ? `; uncertain, since the latencies of ${choice.uncertain.join(', ')} straddle the limit` : '';
  return { file: present(target, choice.pick.file), why: `the report's pick, ${choice.pick.label}${uncertain}` };
}

/** A bundle of a report folder, which must be on disk (bundles are written by runs, never committed). */
function present(dir: string, file: string): string {
  const path = join(dir, file);
  if (!existsSync(path)) {
    throw new Error(`${path} is not here: bundles are written by runs on this machine and never committed (the reference reports in reports/ have none); run \`npm run experiment -- <config>\` and give its folder, runs/<config>.`);
  }
  return path;
}

/** The line's answer: `7 (confidence 0.998)`, or `unsure (best guess 2, confidence 0.410)`; the label alone without scores. */
function answerText(p: Prediction): string {
  const name = quoteLine(p.name, 40);
  const confidence = p.confidence === undefined ? undefined : `confidence ${p.confidence.toFixed(3)}`;
  if (p.unsure) return `unsure (best guess ${name}${confidence ? `, ${confidence}` : ''})`;
  return confidence ? `${name} (${confidence})` : name;
}

/** The raw top scores (probabilities, votes or decision values: see `scoreKind`). */
function scoreText(p: Prediction): string {
  if (!p.top) return '';
  return `  scores: ${p.top.map((t) => `${quoteLine(t.name, 40)} ${t.score.toFixed(3)}`).join(', ')}`;
}

/** What the bundle's trust means for the answers, for the model line (stderr) and, when it has none, the text output's last line. */
function trustText(model: DigitModel): { note: string; last?: string } {
  const t = model.trust;
  if (!model.scores) return { note: 'no scores, so no confidence', last: 'this model has no scores: there is no confidence and no answer is unsure\n' };
  if (!t) {
    return {
      note: 'no calibration or threshold',
      last: 'this bundle has no calibration or threshold (fitted without a validation part): confidences are raw scores and no answer is unsure\n',
    };
  }
  const fitted = `temperature ${t.calibration.temperature.toPrecision(3)} on ${t.calibration.validationRows} validation rows`;
  const target = `${(t.reject.targetAccuracy * 100).toFixed(1)}%`;
  if (t.reject.threshold === null) {
    return {
      note: `${fitted}; no confidence reached ${target} accuracy on validation, so every answer is unsure`,
      last: `no confidence of this bundle reached its target accuracy (${target}) on the validation rows, so every answer is unsure\n`,
    };
  }
  const v = t.reject.validation;
  return { note: `${fitted}; unsure below confidence ${t.reject.threshold.toFixed(3)}, chosen for ${target} accuracy (validation: ${(v.coverage * 100).toFixed(1)}% answered, ${(v.accuracy * 100).toFixed(2)}% of them right)` };
}

export async function predictCommand(target: string, inputs: string[], opts: PredictOptions): Promise<PredictOutcome> {
  const { file, why } = await resolveBundle(target, opts.model);
  const plugins = (await loadPluginFiles(opts.plugins ?? [])).map((p) => p.plugin);
  const model = await loadModel(file, { plugins });
  const notes: string[] = [];
  try {
    const h = model.header;
    const trust = trustText(model);
    notes.push(
      `model: ${file}${why ? ` (${why})` : ''}: ${h.plugin.name} on ${model.features.join(' → ') || 'raw pixels'}, ` +
        (h.run.refit
          ? `refitted on ${h.run.refit.trainRows} rows (training + test) and untested; its tested run had ${(h.run.testAccuracy * 100).toFixed(2)}% on ${h.run.testRows} ${quoteLine(h.dataset.name, 60)} test rows`
          : `${(h.run.testAccuracy * 100).toFixed(2)}% on ${h.run.testRows} ${quoteLine(h.dataset.name, 60)} test rows`) +
        `${model.scoreKind ? `; scores: ${quoteLine(model.scoreKind)}` : ''}; ${trust.note}`,
    );
    // Pictures are normalized into the bundle's image shape; idx files must have it.
    const read = await readInputs(inputs, { shape: model.imageShape });
    const good = read.filter((r) => r.pixels);
    const predictions = good.length ? await model.predict(good.map((r) => r.pixels!), { top: opts.top }) : [];
    const predicted = new Map(good.map((r, i) => [r.name, predictions[i]!]));
    const errors = read.filter((r) => r.error);
    notes.push(...errors.map((r) => r.error!));
    const width = Math.max(0, ...good.map((r) => r.name.length));
    const out = opts.json
      ? `${JSON.stringify(
          {
            bundle: file,
            classifier: h.run.classifier,
            scoreKind: model.scoreKind ?? null,
            // The calibration and threshold the confidences and `unsure` come from; null: none (raw scores, never unsure).
            trust: model.trust ?? null,
            results: read.map((r) => (r.error ? { input: r.name, error: r.error } : { input: r.name, ...predicted.get(r.name)! })),
          },
          null,
          2,
        )}\n`
      : good.map((r) => `${r.name.padEnd(width)}  ${answerText(predicted.get(r.name)!)}${scoreText(predicted.get(r.name)!)}\n`).join('') + (good.length && trust.last ? trust.last : '');
    const failed = errors.length;
    return { out, notes, failed };
  } finally {
    model.dispose();
  }
}
