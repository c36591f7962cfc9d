/**
 * `digitbench predict <bundle | report folder> <input…>`: labels for the user's own digit images.
 * A report folder means the bundle its deployment section picks (or `--model <label>`).
 * One line per input on stdout; a bad input is a one-line error on stderr, the others are still
 * predicted, and the exit code is non-zero. The bundle is data: its plugin is a built-in or one of the
 * files given with --plugin (the user's own code), matched by name; nothing the bundle names is run.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../bundle/file.ts';
import { quoteLine } from '@digitbench/runtime/internal';
import type { Prediction } from '@digitbench/runtime/internal';
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

function scoreText(p: Prediction): string {
  if (!p.top) return '';
  return `  (${p.top.map((t) => `${quoteLine(t.name, 40)} ${t.score.toFixed(3)}`).join(', ')})`;
}

export async function predictCommand(target: string, inputs: string[], opts: PredictOptions): Promise<PredictOutcome> {
  const { file, why } = await resolveBundle(target, opts.model);
  const plugins = (await loadPluginFiles(opts.plugins ?? [])).map((p) => p.plugin);
  const model = await loadModel(file, { plugins });
  const notes: string[] = [];
  try {
    const h = model.header;
    notes.push(
      `model: ${file}${why ? ` (${why})` : ''}: ${h.plugin.name} on ${model.features.join(' → ') || 'raw pixels'}, ` +
        (h.run.refit
          ? `refitted on ${h.run.refit.trainRows} rows (training + test) and untested; its tested run had ${(h.run.testAccuracy * 100).toFixed(2)}% on ${h.run.testRows} ${quoteLine(h.dataset.name, 60)} test rows`
          : `${(h.run.testAccuracy * 100).toFixed(2)}% on ${h.run.testRows} ${quoteLine(h.dataset.name, 60)} test rows`) +
        `${model.scoreKind ? `; scores: ${quoteLine(model.scoreKind)}` : ''}`,
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
            results: read.map((r) => (r.error ? { input: r.name, error: r.error } : { input: r.name, ...predicted.get(r.name)! })),
          },
          null,
          2,
        )}\n`
      : good.map((r) => `${r.name.padEnd(width)}  ${quoteLine(predicted.get(r.name)!.name, 40)}${scoreText(predicted.get(r.name)!)}\n`).join('');
    const failed = errors.length;
    return { out, notes, failed };
  } finally {
    model.dispose();
  }
}
