/**
 * Every committed reference report is what the committed code renders from its committed rows: re-rendered
 * (`digitbench report`) into a copy, its report.md is byte for byte the committed one. A change to the
 * rendering must come with the re-rendered reports. Reports whose dataset is not on this machine (the CSV
 * and image-folder ones read data/generated/, made by `npm run make:mnist-sources`) are compared without
 * the lines that need the dataset's image shape.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rerender } from '../src/harness/rerender.ts';

const ROOT = resolve(import.meta.dirname, '..');
const REPORTS = readdirSync(join(ROOT, 'reports')).filter((n) => existsSync(join(ROOT, 'reports', n, 'results.jsonl')));

describe('committed reports re-render unchanged', () => {
  it('there are reports to check', () => {
    expect(REPORTS).toEqual(expect.arrayContaining(['quick', 'mnist-full', 'mnist-best']));
  });

  for (const name of REPORTS) {
    const dir = join(ROOT, 'reports', name);
    const config = JSON.parse(readFileSync(join(dir, 'experiment.json'), 'utf8')) as { dataset?: unknown };
    const sources = JSON.stringify(config.dataset ?? '').match(/data\/generated\/[^"]+/g) ?? [];
    const missing = sources.filter((f) => !existsSync(join(ROOT, f)));
    it.skipIf(missing.length > 0)(`${name}${missing.length ? ` (skipped: ${missing[0]} is missing; npm run make:mnist-sources)` : ''}`, async () => {
      const copy = mkdtempSync(join(tmpdir(), `digitbench-rerender-${name}-`));
      try {
        cpSync(dir, copy, { recursive: true, filter: (f) => !f.startsWith(join(dir, 'models')) && !f.startsWith(join(dir, 'previous')) });
        await rerender(copy, { warn: () => {} });
        expect(readFileSync(join(copy, 'report.md'), 'utf8')).toBe(readFileSync(join(dir, 'report.md'), 'utf8'));
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    });
  }
});
