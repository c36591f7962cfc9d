/** The `digitbench` command line. Every command has --help; errors print one line and exit non-zero. */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { listDatasets, loadDataset } from './data/datasets.ts';
import { textTable as table } from './report/table.ts';

/** What `npm run experiment` runs with no argument. */
export const DEFAULT_EXPERIMENT = 'quick';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('use a positive whole number.');
  return n;
}

export function buildProgram(out: (s: string) => void): Command {
  const program = new Command('digitbench')
    .description('Compare machine-learning classifiers on handwritten digits (MNIST).')
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: (s) => process.stderr.write(s) });

  program
    .command('datasets')
    .description('List the datasets, where each comes from and its sizes; --inspect shows what a dataset source would give.')
    .option('--inspect <source>', 'a dataset name, a folder (idx files or class folders), a CSV file, an idx images file, or a JSON source object: its rows, shape, classes and counts, pixel range')
    .option('--json', 'with --inspect: print JSON')
    .action(async (opts: { inspect?: string; json?: boolean }) => {
      if (opts.inspect !== undefined) {
        const { inspectDataset, inspectionText } = await import('./harness/inspect.ts');
        const i = await inspectDataset(opts.inspect);
        out(opts.json ? `${JSON.stringify(i, null, 2)}\n` : inspectionText(i));
        return;
      }
      const rows: string[][] = [];
      for (const d of listDatasets()) {
        let sizes = '-';
        if (d.available) {
          const ds = await loadDataset(d.name);
          sizes = `${ds.train.labels.length} / ${ds.test.labels.length}, ${ds.imageShape.join('×')}, ${ds.classes.length} classes`;
        }
        rows.push([d.name, d.available ? 'yes' : 'no', sizes, d.source, d.available ? '' : d.install]);
      }
      out(`${table(['name', 'available', 'train / test, image, classes', 'source', 'to install'], rows)}\n`);
    });

  program
    .command('bench')
    .description('Time the heavy work on full MNIST against the machine\'s ceiling (and scikit-learn / PyTorch with --vs-peers); prints medians.')
    .addOption(new Option('--repeats <n>', 'runs per row (the median is printed)').default('3').argParser(positiveInt))
    .addOption(new Option('--heavy-repeats <n>', 'runs of the rows that take minutes (forest, SVM, CNN)').default('1').argParser(positiveInt))
    .addOption(new Option('--threads <n>', 'threads for both sides (default: up to 2, this machine\'s cores)').argParser(positiveInt))
    .option('--only <rows...>', 'only these rows: ceiling, load, pca, pca-project, nb, tree, forest, knn, svm, lenet, keras')
    .option('--vs-peers', 'also run scikit-learn / PyTorch on the same work and cores when they are installed, and print the ratios')
    .option('--json', 'print the run as JSON (rows, peers, ceiling, machine) instead of the table')
    .option('--out <dir>', 'also write bench.md and bench.json into this folder (e.g. reports/bench)')
    .action(async (opts: { repeats: number | string; heavyRepeats: number | string; threads?: number | string; only?: string[]; vsPeers?: boolean; json?: boolean; out?: string }) => {
      const { runBench, BENCH_KEYS } = await import('./bench/bench.ts');
      const { formatBench } = await import('./bench/format.ts');
      const { defaultThreads } = await import('./engine/threads.ts');
      const { getTf } = await import('./engine/tf.ts');
      const { gitCommit, machine } = await import('./harness/env.ts');
      const unknown = (opts.only ?? []).filter((k) => !BENCH_KEYS.includes(k));
      if (unknown.length) throw new Error(`--only: unknown row ${unknown.join(', ')}; use ${BENCH_KEYS.join(', ')}.`);
      const threads = opts.threads !== undefined ? Number(opts.threads) : defaultThreads();
      const log = (l: string) => process.stderr.write(`${l}\n`);
      const startedAt = new Date().toISOString();
      const commit = gitCommit();
      const repeats = { repeats: Number(opts.repeats), heavyRepeats: Number(opts.heavyRepeats) };
      const { rows, ceiling, ortCeiling } = await runBench({ ...repeats, threads, only: opts.only, log });
      let peers;
      if (opts.vsPeers) {
        const { runPeers } = await import('./bench/peers.ts');
        peers = await runPeers([...rows.map((r) => r.key), ...(ceiling ? ['ceiling'] : [])], threads, log);
      }
      const doc = {
        format: 'digitbench-bench' as const,
        version: 1 as const,
        command: `digitbench bench ${process.argv.slice(3).join(' ')}`.trim(),
        startedAt,
        finishedAt: new Date().toISOString(),
        commit,
        machine: machine(),
        engine: await (async () => {
          const { engineChoice, ortDescription } = await import('./engine/ort.ts');
          const choice = engineChoice();
          // The engine the rows ran on (each row's own engine column says what did its work).
          return choice.engine === 'ort' ? `${ortDescription(threads)}, chosen: ${choice.reason}` : `${(await getTf()).engine.description}, chosen: ${choice.reason}`;
        })(),
        threads,
        repeats,
        ...(ceiling ? { ceiling } : {}),
        ...(ortCeiling ? { ortCeiling } : {}),
        rows,
        ...(peers ? { peers } : {}),
      };
      const json = `${JSON.stringify(doc, null, 2)}\n`;
      const md = formatBench(doc);
      if (opts.out) {
        const { mkdir, writeFile } = await import('node:fs/promises');
        const { join } = await import('node:path');
        await mkdir(opts.out, { recursive: true });
        await writeFile(join(opts.out, 'bench.json'), json);
        await writeFile(join(opts.out, 'bench.md'), `# digitbench bench\n\n\`${doc.command}\`\n\n${md}`);
        log(`wrote ${join(opts.out, 'bench.md')} and bench.json`);
      }
      out(opts.json ? json : md);
    });

  program
    .command('experiment')
    .description('Run an experiment file (default: the default comparison) and write its report.')
    .argument('[config]', `a name in experiments/ or a path to a .json file`, DEFAULT_EXPERIMENT)
    .option('--fresh', 'start over even when an unfinished run could resume (the previous results, report and bundles move to <out>/previous/<time>/)')
    .option('--out <dir>', 'folder for results.jsonl, report.md and models/ (default: runs/<experiment>; the shipped references are reports/<experiment>)')
    .option('--queue [url]', 'run on queue workers instead of here: enqueue the runs as BullMQ jobs on this Redis (redis://[:password@]host:port) and collect their rows; a bare --queue, after the config, takes the URL from $DIGITBENCH_REDIS_URL (out of the process list). Without --queue the runs are local, whether or not that variable is set')
    .option('--queue-name <name>', 'the queue on that Redis (workers must name the same one)', 'digitbench')
    .action(async (ref: string, opts: { fresh?: boolean; out?: string; queue?: string | true; queueName: string }) => {
      const { experimentPath, loadExperiment } = await import('./harness/experiment.ts');
      const { consoleEvents } = await import('./harness/console.ts');
      let target;
      if (opts.queue !== undefined) {
        // `experiment --queue quick` takes "quick" as the URL: say so, without printing it.
        if (typeof opts.queue === 'string' && opts.queue && !opts.queue.includes('://')) {
          throw new Error('--queue: its value is not a URL (no redis://); for the URL in DIGITBENCH_REDIS_URL put a bare --queue after the config (experiment <config> --queue), else give --queue redis://[:password@]host:port.');
        }
        const { parseQueueUrl, queueUrlFrom } = await import('./queue/connection.ts');
        const q = queueUrlFrom(opts.queue, false)!;
        target = parseQueueUrl(q.url, opts.queueName, q.from);
      }
      const exp = await loadExperiment(experimentPath(ref));
      const run = { fresh: opts.fresh, outDir: opts.out, events: consoleEvents() };
      const summary = target
        ? await (await import('./queue/coordinator.ts')).runQueued(exp, { ...run, target })
        : await (await import('./harness/run.ts')).runExperiment(exp, run);
      out(`${summary.ran} run(s) done, ${summary.skipped} already finished, ${summary.failed} failed. Report: ${summary.report}\n`);
      if (summary.ran === 0) {
        out(`Every run of "${exp.name}" already had a result in ${summary.outDir}/results.jsonl (an unfinished experiment was resumed), so the report was only re-rendered; add --fresh to measure them all again.\n`);
      }
      if (summary.rows.some((r) => r.status !== 'ok')) {
        throw new Error(`${summary.rows.filter((r) => r.status !== 'ok').length} run(s) did not finish; see the report's failures section, fix, and run again to retry only those.`);
      }
    });

  program
    .command('predict')
    .description(
      'Predict the digits in PNG/JPEG images, folders of them or idx files, with a model bundle (or the pick of a report folder): one line per image with the label and its confidence (0..1), or "unsure" with the best guess when the confidence is below the bundle\'s threshold (chosen on the run\'s validation rows for reject.targetAccuracy, default 99.5%).',
    )
    .argument('<bundle>', 'a .bundle file from <report>/models/, or a report folder (its deployment pick, or --model)')
    .argument('<inputs...>', 'PNG or JPEG files, folders of them, or idx image files')
    .option('--model <label>', 'in a report folder: the classifier whose bundle to use (e.g. svm)')
    .option('--json', 'print JSON (bundle, classifier, the bundle\'s trust, and per input: label, name, confidence, unsure, top scores) instead of text')
    .addOption(new Option('--top <n>', 'scores shown per input').default('3').argParser(positiveInt))
    .option('--plugin <files...>', "plugin files (your own code) for bundles whose plugin is not built in, matched by the plugin's name; put it after the inputs")
    .action(async (bundle: string, inputs: string[], opts: { model?: string; json?: boolean; top: number | string; plugin?: string[] }) => {
      const { predictCommand } = await import('./harness/predict.ts');
      const r = await predictCommand(bundle, inputs, { model: opts.model, json: opts.json, top: Number(opts.top), plugins: opts.plugin });
      for (const n of r.notes) process.stderr.write(`${n}\n`);
      out(r.out);
      if (r.failed) throw new Error(`${r.failed} input(s) could not be read (see above); the others were predicted.`);
    });

  program
    .command('evaluate')
    .description(
      'How a bundle, or every bundle of a report folder, does on your labelled images, beside its run\'s test accuracy; writes evaluation.md and evaluation.json. --corruptions also measures it on those images under MNIST-C corruptions (per corruption: accuracy, answered share, accuracy of the answered; mean corrupted accuracy, mCE, the worst), on each bundle\'s own test rows when no data is given.',
    )
    .argument('<bundle>', 'a .bundle file, or a report folder (every bundle in it)')
    .argument('[data]', 'labelled data: a class-folder tree of PNG/JPEG images, a CSV file, an idx images file (labels file beside it) or folder of the four idx files, or a JSON source object (optional with --corruptions: the test rows of each bundle\'s own split)')
    .option('--json', 'print the evaluation as JSON instead of the summary table')
    .option('--out <dir>', 'folder for evaluation.md, evaluation.json and the charts (default for a report folder: <folder>/evaluate-<data name>; for a bundle, nothing is written without it)')
    .option('--plugin <files...>', "plugin files (your own code) for bundles whose plugin is not built in, matched by the plugin's name; put it after the data")
    .option('--corruptions [names]', 'also under MNIST-C corruptions: "all" (the default) or names separated by commas, e.g. shot_noise,rotate')
    .addOption(new Option('--seed <n>', 'the corruptions\' seed').default('1'))
    .action(async (bundle: string, data: string | undefined, opts: { json?: boolean; out?: string; plugin?: string[]; corruptions?: string | boolean; seed: string }) => {
      const { evaluateCommand } = await import('./harness/evaluate.ts');
      const seed = Number(opts.seed);
      if (!Number.isInteger(seed)) throw new Error(`--seed: use a whole number, not "${opts.seed}".`);
      const corruptions = opts.corruptions === undefined ? undefined : opts.corruptions === true ? 'all' : String(opts.corruptions);
      const r = await evaluateCommand(bundle, data, { json: opts.json, out: opts.out, plugins: opts.plugin, ...(corruptions !== undefined ? { corruptions, seed } : {}) });
      for (const n of r.notes) process.stderr.write(`${n}\n`);
      out(r.out);
    });

  // A port: checked while the arguments are parsed, before any work. A plain Error (not commander's
  // InvalidArgumentError, which prints the usage too) reaches main as one line: `digitbench: --port: …`.
  const portNumber = (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new Error('--port: use a whole number from 0 to 65535.');
    return n;
  };
  const pluginHelp = 'plugin files the page may run besides the built-ins (a bundle names its plugin; only built-ins and these are in the page)';

  program
    .command('serve')
    .description("A local web page for an experiment's bundles: draw a digit and every model predicts it in the browser.")
    .argument('[dir]', 'a report folder with model bundles', 'runs/quick')
    .option('--host <host>', 'address to listen on (0.0.0.0 or :: make the page, report and bundles reachable from the network)', '127.0.0.1')
    .addOption(new Option('--port <n>', 'port (0: any free one)').default('5178').argParser(portNumber))
    .option('--plugin <files...>', pluginHelp)
    .option('--no-isolation', 'leave out the COOP/COEP headers (the page then runs tfjs-wasm on one thread)')
    .action(async (dir: string, opts: { host: string; port: number | string; plugin?: string[]; isolation: boolean }) => {
      const { startServer } = await import('./serve/server.ts');
      const s = await startServer(dir, { host: opts.host, port: Number(opts.port), isolated: opts.isolation, plugins: opts.plugin ?? [] });
      if (s.warning) process.stderr.write(`warning: ${s.warning}\n`);
      for (const p of s.build.plugins.filter((x) => !x.ok)) process.stderr.write(`note: ${p.file} cannot run in a browser: ${p.reason}\n`);
      for (const m of s.experiment.models.filter((x) => x.unavailable && !x.unavailable.startsWith('its plugin cannot be bundled'))) process.stderr.write(`note: ${m.label}: ${m.unavailable}\n`);
      // Ctrl-C is handled from before the line that says it stops the server.
      const stopped = new Promise<void>((done) => process.once('SIGINT', () => void s.close().then(done)));
      out(`Serving ${s.experiment.models.length} model(s) of "${s.experiment.name}" at ${s.url} (${opts.isolation ? 'cross-origin isolated' : 'not isolated'}); Ctrl-C stops.\n`);
      await stopped;
    });

  program
    .command('browser-bench')
    .description("Measure every bundle of a report folder in headless Chromium (download, cold start, latency, agreement with Node), with and without cross-origin isolation; adds the figures to the report.")
    .argument('[dir]', 'a report folder with model bundles', 'runs/quick')
    .option('--browser <path>', 'the Chromium executable (default: $DIGITBENCH_CHROMIUM or /usr/bin/chromium)')
    .addOption(new Option('--mode <mode>', 'page modes').choices(['both', 'plain', 'isolated']).default('both'))
    .addOption(new Option('--passes <n>', 'timed passes (default: the experiment\'s deploy.passes)').argParser(positiveInt))
    .addOption(new Option('--calls <n>', 'single-image calls per pass (default: deploy.calls; at least 500 in all)').argParser(positiveInt))
    .option('--only <labels...>', 'only these models (report labels)')
    .option('--plugin <files...>', pluginHelp)
    .action(async (dir: string, opts: { browser?: string; mode: string; passes?: number; calls?: number; only?: string[]; plugin?: string[] }) => {
      const { browserBench } = await import('./serve/browser-bench.ts');
      const modes = opts.mode === 'both' ? (['plain', 'isolated'] as const) : ([opts.mode] as ['plain'] | ['isolated']);
      const r = await browserBench(dir, {
        modes,
        ...(opts.browser ? { browser: opts.browser } : {}),
        ...(opts.passes ? { passes: Number(opts.passes) } : {}),
        ...(opts.calls ? { calls: Number(opts.calls) } : {}),
        ...(opts.only ? { only: opts.only } : {}),
        ...(opts.plugin ? { plugins: opts.plugin } : {}),
        log: (l) => out(`${l}\n`),
      });
      out(`${r.rows.length} measurement(s) added to browser.jsonl; report: ${r.report}\n`);
      const failed = r.rows.filter((x) => x.status !== 'ok');
      if (failed.length) throw new Error(`${failed.length} measurement(s) failed: ${failed.map((x) => `${x.classifier}${x.isolated ? ' (isolated)' : ''}: ${x.reason}`).join('; ')}`);
    });

  program
    .command('worker')
    .description('Take experiment runs from a queue (see experiment --queue) and run them here, each in its own process with its time and memory limits, until stopped.')
    .option('--queue [url]', 'the Redis the coordinator queued on: redis://[:password@]host:port (default, or a bare --queue: $DIGITBENCH_REDIS_URL, which keeps a password out of the process list)')
    .option('--queue-name <name>', 'the queue on that Redis', 'digitbench')
    .addOption(new Option('--concurrency <n>', 'runs at a time on this machine (each run uses its own threads)').default(1).argParser(positiveInt))
    .action(async (opts: { queue?: string | true; queueName: string; concurrency: number }) => {
      const { parseQueueUrl, queueUrlFrom } = await import('./queue/connection.ts');
      const q = queueUrlFrom(opts.queue, true)!;
      const { startWorker } = await import('./queue/worker.ts');
      const log = (l: string) => process.stderr.write(`${l}\n`);
      const worker = await startWorker({ target: parseQueueUrl(q.url, opts.queueName, q.from), concurrency: Number(opts.concurrency), log });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          log(`${worker.name}: ${signal} again: stopping now; the jobs it ran go back to the queue after their lock expires`);
          process.exit(130);
        }
        stopping = true;
        log(`${worker.name}: ${signal}: finishing the running job(s), then stopping (${signal} again to stop now)`);
        void worker.close();
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      await worker.done;
      log(`${worker.name}: stopped`);
    });

  program
    .command('export')
    .description('Write a bundle\'s feature pipeline and model as one ONNX graph (input "pixels": float32 [N, h·w] raw 0–255; outputs "label" int64 [N], raw "scores" float32 [N, classes], and "confidence" float32 [N] and "unsure" bool [N] as classify gives them).')
    .argument('<bundle>', 'a .bundle file, e.g. runs/quick/models/svm-26300684.bundle')
    .requiredOption('--onnx <file>', 'the ONNX file to write (its folder must exist)')
    .action(async (bundle: string, opts: { onnx: string }) => {
      const { exportOnnx } = await import('./export/onnx.ts');
      const r = await exportOnnx(bundle, opts.onnx);
      out(`${r.file}: ${r.plugin} on ${r.features.length ? r.features.join(' → ') : 'raw pixels'}; input pixels float32 [N, ${r.imageShape[0] * r.imageShape[1]}] (raw 0–255, ${r.imageShape.join('×')} images); outputs ${r.outputs.join(', ')} (scores: ${r.note}; confidence ${r.calibrated ? "calibrated by the bundle's trust" : 'uncalibrated: the bundle has no trust'}); ${(r.bytes.length / 1e6).toFixed(1)} MB\n`);
    });

  program
    .command('report')
    .description('Re-render <dir>/report.md from its results.jsonl, without running anything.')
    .argument('<dir>', 'the experiment folder, e.g. runs/quick (or a reference report, reports/quick)')
    .action(async (dir: string) => {
      const { rerender } = await import('./harness/rerender.ts');
      const r = await rerender(dir);
      out(`Rendered ${r.rows} run(s) into ${r.report}\n`);
    });

  program
    .command('list')
    .description('List the classifier plugins with their parameters and defaults.')
    .option('--json', 'print JSON instead of text')
    .action(async (opts: { json?: boolean }) => {
      const { builtins } = await import('./classifiers/registry.ts');
      const { describeParams } = await import('./classifiers/describe.ts');
      const list = builtins.map((p) => ({ name: p.name, summary: p.summary, input: p.input, library: p.library, scoreKind: p.scoreKind ?? null, params: describeParams(p) }));
      if (opts.json) {
        out(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      for (const p of list) {
        out(`${p.name} — ${p.summary}\n  input: ${p.input}; library: ${p.library}; scores: ${p.scoreKind ?? 'none'}\n`);
        out(`${table(['  param', 'type', 'default', 'description'], p.params.map((q) => [`  ${q.name}`, q.type, q.default, q.description]))}\n\n`);
      }
    });

  return program;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const program = buildProgram(out);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version succeed; a bare `digitbench` (usage shown as an error) does not.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
      return e.exitCode || 1;
    }
    process.stderr.write(`digitbench: ${(e as Error).message}\n`);
    return 1;
  }
}
