/** Progress for people: bars with ETA on a terminal (cli-progress), plain lines elsewhere (CI, pipes). */
import cliProgress from 'cli-progress';
import type { ResultRow } from '../results/row.ts';
import type { RunEvents } from './run.ts';
import type { RunSpec } from './experiment.ts';

function describe(row: ResultRow): string {
  if (row.status !== 'ok') return `${row.status}: ${row.reason}`;
  const t = row.timing;
  return `ok ${(row.metrics.accuracy * 100).toFixed(2)}% (fit ${t.fitSeconds.toFixed(1)} s, predict ${t.predictSeconds.toFixed(2)} s)`;
}

function name(run: RunSpec): string {
  return `${run.label}${run.repetition ? ` #${run.repetition + 1}` : ''}`;
}

export function consoleEvents(stream: NodeJS.WriteStream = process.stderr): Partial<RunEvents> {
  if (!stream.isTTY) {
    let every = 1;
    let ticks = 0;
    let steps = 0;
    let unit = '';
    return {
      note: (m) => stream.write(`${m}\n`),
      skip: (run) => stream.write(`skip ${name(run)} (finished in an earlier run)\n`),
      start: (run, pos, n, where) => stream.write(`[${pos + 1}/${n}] ${name(run)} …${where ? ` on ${where}` : ''}\n`),
      progress: (run, m) => {
        if (m.phase === 'fit' && m.total) {
          // About ten lines per run at most (epochs are few; a forest has hundreds of trees).
          every = Math.max(1, Math.ceil(m.total / 10));
          ticks = 0;
          steps = m.total;
          unit = m.unit ?? 'steps';
        } else if (m.phase === 'tick' && ++ticks % every === 0) {
          const info = m.info ? Object.entries(m.info).map(([k, v]) => `${k}=${v}`).join(' ') : '';
          stream.write(`  ${name(run)}: ${unit} ${ticks}/${steps} ${info}\n`);
        }
      },
      done: (run, row) => stream.write(`  ${name(run)}: ${describe(row)}\n`),
    };
  }
  const multi = new cliProgress.MultiBar(
    { stream, clearOnComplete: false, hideCursor: true, format: ' {bar} {value}/{total} {label} | ETA {eta_formatted} {info}', etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  let runs: cliProgress.SingleBar | undefined;
  let inner: cliProgress.SingleBar | undefined;
  return {
    note: (m) => multi.log(`${m}\n`),
    skip: (run) => multi.log(`skip ${name(run)} (finished in an earlier run)\n`),
    start: (run, pos, n, where) => {
      runs ??= multi.create(n, 0, { label: 'runs', info: '' });
      if (where) multi.log(`${name(run)}: taken by ${where}\n`);
      // Locally the bar counts runs started; through a queue, several run at once and `done` counts them.
      if (where) runs.update({ info: `now: ${name(run)} on ${where}` });
      else runs.update(pos, { info: `now: ${name(run)}` });
    },
    progress: (run, m) => {
      if (m.phase === 'fit' && m.total) {
        inner?.stop();
        if (inner) multi.remove(inner);
        inner = multi.create(m.total, 0, { label: `${name(run)} ${m.unit ?? 'steps'}`, info: '' });
      } else if (m.phase === 'tick') {
        inner?.increment(1, { info: m.info ? Object.entries(m.info).map(([k, v]) => `${k}=${v}`).join(' ') : '' });
      } else if (runs) {
        runs.update({ info: `now: ${name(run)} (${m.phase})` });
      }
    },
    done: (run, row) => {
      if (inner) {
        inner.stop();
        multi.remove(inner);
        inner = undefined;
      }
      multi.log(`${name(run)}: ${describe(row)}\n`);
      runs?.increment(1, { info: '' });
    },
    close: () => multi.stop(),
  };
}
