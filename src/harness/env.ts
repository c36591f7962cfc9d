/**
 * The environment a run happened in: Node, CPU, git commit. The package versions a row records are its
 * run's own (provenance.ts: what its plugin and feature steps declare).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, hostname, platform, release } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** HEAD's sha, with "+dirty" when tracked source files differ from it; null outside git. */
export function gitCommit(): string | null {
  try {
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'package.json', 'package-lock.json', 'patches'], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return null;
  }
}

export function machine(): { node: string; platform: string; cpu: string; cores: number; host: string } {
  const c = cpus();
  return { node: process.version, platform: `${platform()} ${release()}`, cpu: c[0]?.model.trim() ?? 'unknown', cores: c.length || 1, host: hostname() };
}

/** This package's version (package.json), written into every bundle. */
export const DIGITBENCH_VERSION: string = (JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
