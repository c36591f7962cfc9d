/**
 * The bench's outputs: one JSON document (rows, peers, ceiling, machine) that a run can commit, and the
 * Markdown rendered from it: the comparison (times, threads of both sides, ratio against the target),
 * accuracy, and the work against the machine's ceiling.
 */
import { markdownTable } from '../report/table.ts';
import type { BenchRow } from './bench.ts';
import type { Ceiling } from './ceiling.ts';
import type { PeerFigures } from './peers.ts';

export interface BenchDocument {
  format: 'digitbench-bench';
  version: 1;
  command: string;
  startedAt: string;
  finishedAt: string;
  commit: string | null;
  machine: { node: string; platform: string; cpu: string; cores: number };
  engine: string;
  threads: number;
  repeats: { repeats: number; heavyRepeats: number };
  ceiling?: Ceiling;
  /** The same ceiling on onnxruntime-node (the native engine of issue 25), or why it could not run. */
  ortCeiling?: Ceiling | { error: string };
  rows: BenchRow[];
  peers?: PeerFigures;
}

const secs = (s: number | undefined) => (s === undefined || !Number.isFinite(s) ? '—' : s >= 100 ? `${s.toFixed(0)} s` : s >= 10 ? `${s.toFixed(1)} s` : `${s.toFixed(3)} s`);
const cores = (cpu: number | undefined, wall: number) => (cpu === undefined || !Number.isFinite(cpu) || !(wall > 0) ? '—' : (cpu / wall).toFixed(2));
const gf = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** digitbench ÷ peer, or undefined when either side is missing. */
export function ratioOf(r: BenchRow, peers?: PeerFigures): number | undefined {
  const p = peers?.[r.key];
  return p && Number.isFinite(r.medianSeconds) && p.seconds > 0 ? r.medianSeconds / p.seconds : undefined;
}

function verdict(ratio: number | undefined, target: number | undefined): string {
  if (ratio === undefined || target === undefined) return '';
  if (ratio <= 1) return ratio <= target ? 'met (and ≤ 1.0×)' : 'met';
  return ratio <= target ? `met (aim 1.0×: ${((ratio - 1) * 100).toFixed(0)}% over)` : `missed by ${((ratio / target - 1) * 100).toFixed(0)}%`;
}

export function formatBench(doc: BenchDocument): string {
  const { rows, peers, ceiling, ortCeiling } = doc;
  const out: string[] = [];
  out.push(
    `Machine: ${doc.machine.cpu}, ${doc.machine.cores} cores, Node ${doc.machine.node}; engine ${doc.engine}; commit ${doc.commit ?? 'unknown'}; ${doc.startedAt}. ` +
      `Every row is the median of its runs. **threads** = what each side was given; **cores** = CPU time ÷ wall time over the timed work (all threads of the process): the cores it actually kept busy.`,
  );
  const head = ['work', 'digitbench', 'runs', 'threads', 'cores'];
  if (peers) head.push('peer', 'peer time', 'peer threads', 'peer cores', 'ratio', 'target', '');
  const body = rows.map((r) => {
    const cells = [r.work, secs(r.medianSeconds), String(r.runs), String(r.threads), cores(r.cpuSeconds, r.medianSeconds)];
    if (peers) {
      const p = peers[r.key];
      const ratio = ratioOf(r, peers);
      cells.push(p?.engine ?? '', p ? secs(p.seconds) : '', p ? String(p.threads) : '', p ? cores(p.cpuSeconds, p.seconds) : '', ratio !== undefined ? `${ratio.toFixed(2)}×` : '', r.target !== undefined && p ? `≤ ${r.target.toFixed(1)}×` : '', verdict(ratio, p ? r.target : undefined));
    }
    return cells;
  });
  out.push(markdownTable(head, body, head.map((h) => (['digitbench', 'runs', 'threads', 'cores', 'peer time', 'peer threads', 'peer cores', 'ratio', 'target'].includes(h) ? 'r' : 'l')), { compactRule: true }));

  const withAcc = rows.filter((r) => r.accuracy !== undefined || peers?.[r.key]?.accuracy !== undefined || r.note);
  if (withAcc.length) {
    out.push('**Accuracy and engines** (official test set, 10,000 images):');
    const h = ['work', 'accuracy', 'engine', 'note'];
    if (peers) h.splice(2, 0, 'peer accuracy');
    out.push(
      markdownTable(
        h,
        withAcc.map((r) => {
          const c = [r.work, r.accuracy !== undefined ? `${(r.accuracy * 100).toFixed(2)}%` : '', r.engine, r.note ?? ''];
          if (peers) c.splice(2, 0, peers[r.key]?.accuracy !== undefined ? `${(peers[r.key]!.accuracy! * 100).toFixed(2)}%` : '');
          return c;
        }),
        h.map((x) => (x.includes('accuracy') ? 'r' : 'l')),
        { compactRule: true },
      ),
    );
  }

  const heavy = rows.filter((r) => r.gflop !== undefined && Number.isFinite(r.medianSeconds));
  if (heavy.length || ceiling) {
    const top = ceiling?.allThreadsGflops;
    out.push(
      ceiling
        ? `**The limit.** Ceiling, measured in this run: ${ceiling.size}² float32 products on ${ceiling.engine}: **${gf(ceiling.oneThreadGflops)} GFLOP/s** in one thread, **${gf(ceiling.allThreadsGflops)} GFLOP/s** in ${ceiling.threads} threads at once.` +
            (peers?.ceiling?.gflops ? ` The peers' own: ${peers.ceiling.engine}, ${gf(peers.ceiling.gflops)} GFLOP/s.` : '') +
            (ortCeiling && 'error' in ortCeiling ? ` The native engine's: not measured (${ortCeiling.error}).` : '') +
            (ortCeiling && !('error' in ortCeiling) ? ` The native engine's, on ${ortCeiling.engine}: **${gf(ortCeiling.oneThreadGflops)} GFLOP/s** in one thread, **${gf(ortCeiling.allThreadsGflops)} GFLOP/s** on ${ortCeiling.threads} threads.` : '')
        : '**The limit.** (no ceiling measured in this run: add the `ceiling` row)',
    );
    if (heavy.length) {
      // Each row against the ceiling of the engine it ran on (its engine column says which), and against
      // the native ceiling, the measure (60% or more of it).
      const native = ortCeiling && !('error' in ortCeiling) ? ortCeiling.allThreadsGflops : undefined;
      const kind = (r: BenchRow) => (r.engine.startsWith('onnxruntime-node') ? 'ort' : r.engine.startsWith('tfjs') ? 'wasm' : 'js');
      // Plain JS has no ceiling measured here.
      const ownTop = (r: BenchRow) => (kind(r) === 'ort' ? native : kind(r) === 'wasm' ? top : undefined);
      const h = ['work', 'GFLOP', 'digitbench GFLOP/s', 'engine', 'of its engine\'s ceiling', 'of the onnxruntime ceiling'];
      if (peers) h.push('peer GFLOP/s');
      h.push('counted as');
      out.push(
        markdownTable(
          h,
          heavy.map((r) => {
            const rate = r.gflop! / r.medianSeconds;
            const own = ownTop(r);
            const c = [r.work, gf(r.gflop!), gf(rate), kind(r), own ? `${((rate / own) * 100).toFixed(0)}%` : '', native ? `${((rate / native) * 100).toFixed(0)}%` : ''];
            if (peers) c.push(peers[r.key] ? gf(r.gflop! / peers[r.key]!.seconds) : '');
            c.push(r.gflopNote ?? '');
            return c;
          }),
          h.map((x) => (x === 'work' || x === 'counted as' || x === 'engine' ? 'l' : 'r')),
          { compactRule: true },
        ),
      );
    }
  }
  return `${out.join('\n\n')}\n`;
}
