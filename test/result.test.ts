import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appendRow, decodeLabels, encodeLabels, parseRows, readRows, type ResultRow } from '../src/results/row.ts';
import { fixtureRows } from './helpers/report-rows.ts';

const dir = mkdtempSync(join(tmpdir(), 'digitbench-result-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('label encoding', () => {
  it('round-trips small labels as one byte each and others as int32', () => {
    const small = Int32Array.from({ length: 1000 }, (_, i) => (i * 7) % 10);
    const enc = encodeLabels(small);
    expect(enc.startsWith('u8:')).toBe(true);
    expect(enc.length).toBe(3 + Math.ceil(1000 / 3) * 4); // base64 of 1000 bytes
    expect(decodeLabels(enc)).toEqual(small);
    const big = Int32Array.from([0, 300, -1, 2 ** 31 - 1]);
    expect(encodeLabels(big).startsWith('i32:')).toBe(true);
    expect(decodeLabels(encodeLabels(big))).toEqual(big);
  });
});

describe('results.jsonl', () => {
  it('appends rows as lines and reads them back', async () => {
    const file = join(dir, 'sub', 'results.jsonl');
    const rows = fixtureRows();
    for (const r of rows) await appendRow(file, r);
    const back = await readRows(file);
    expect(back).toEqual(JSON.parse(JSON.stringify(rows)));
  });

  it('names the file and line of a bad row', () => {
    const rows = fixtureRows();
    const good = JSON.stringify(rows[0]);
    const bad = JSON.stringify({ ...rows[0], metrics: { accuracy: 'high' } });
    expect(() => parseRows(`${good}\n\n${bad}\n`, 'reports/x/results.jsonl')).toThrow(
      'reports/x/results.jsonl line 3 is not a valid result row (metrics.accuracy: Invalid input: expected number, received string); fix or delete that line.',
    );
    expect(() => parseRows(`${good}\n{"id": \n${good}\n`, 'r.jsonl')).toThrow(/^r\.jsonl line 2 is not valid JSON \(.*\); fix or delete that line\.$/);
  });

  it('skips an incomplete last line (an interrupted write) and says so, but not an invalid complete one', () => {
    const rows = fixtureRows();
    const good = JSON.stringify(rows[0]);
    const warnings: string[] = [];
    expect(parseRows(`${good}\n{"id": `, 'r.jsonl', (m) => warnings.push(m))).toEqual([JSON.parse(good)]);
    expect(parseRows(`${good}\n{"id": \n\n`, 'r.jsonl', (m) => warnings.push(m))).toEqual([JSON.parse(good)]);
    expect(warnings).toEqual(
      Array(2).fill('r.jsonl line 2 is an incomplete result row (cut off by an interrupted write); it is skipped, and the next run that writes to the file moves it aside.'),
    );
    // Complete JSON that is not a row is no interrupted write: an error, wherever it is.
    expect(() => parseRows(`${good}\n{"id": "x"}`, 'r.jsonl', () => {})).toThrow(/^r\.jsonl line 2 is not a valid result row \(.*\); fix or delete that line\.$/);
  });

  it('says what to do when the file is missing', async () => {
    await expect(readRows(join(dir, 'none.jsonl'))).rejects.toThrow(`Results file ${join(dir, 'none.jsonl')} does not exist; run the experiment first.`);
  });

  it('refuses to write an invalid row and leaves the file alone', async () => {
    const file = join(dir, 'refused.jsonl');
    writeFileSync(file, '');
    const row = { ...fixtureRows()[2]!, reason: 'two\nlines' } as ResultRow;
    await expect(appendRow(file, row)).rejects.toThrow(`Result row for "decision-tree" is invalid (reason: must be one line); it was not written to ${file}.`);
    expect(await readRows(file)).toEqual([]);
  });
});
