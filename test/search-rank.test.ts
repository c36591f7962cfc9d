import { describe, expect, it } from 'vitest';
import { nextStep, searchPlan } from '../src/harness/search/plan.ts';
import { rankRows } from '../src/harness/search/rank.ts';
import { selectionRowSchema, type SelectionRow } from '../src/results/row.ts';

function row(candidate: number, accs: number[] | null, fitSeconds = 0.1, extra: Partial<SelectionRow> = {}): SelectionRow {
  return {
    id: `s${candidate}`,
    runId: 'r',
    experiment: 'e',
    classifier: 'c',
    repetition: 0,
    seed: 1,
    split: { train: 100, validation: 0, test: 50, seed: 1, fingerprint: 'f' },
    method: 'cv',
    features: [],
    params: {},
    candidate,
    startedAt: '2026-01-01T00:00:00.000Z',
    code: 'x',
    ...(accs ? { status: 'ok' as const, folds: accs.map((accuracy) => ({ train: 80, validation: 20, accuracy, fitSeconds, predictSeconds: 0.1, featureSeconds: 0, transformMsPerImage: 0 })) } : { status: 'failed' as const, reason: `c${candidate} threw` }),
    ...extra,
  };
}

describe('the one ranking (rank.ts)', () => {
  it('orders by mean validation accuracy, ties by the lower candidate index whatever the fit times, failed last', () => {
    // 1, 3 and 4 tie on 0.875 (exact in binary); 3 fits faster, and must not win for it.
    const rows = [row(0, [0.8, 0.8]), row(3, [0.875, 0.875], 0.001), row(2, null), row(1, [0.75, 1], 9), row(4, [1, 0.75])];
    expect(rankRows(rows).map((r) => r.candidate)).toEqual([1, 3, 4, 0, 2]);
  });
});

describe('the grid plan (plan.ts)', () => {
  const plan = searchPlan({ candidates: [0, 1, 2].map(() => ({ features: [], params: {} })) });
  it('asks for the candidates without a row, then chooses by the ranking', () => {
    expect(nextStep(plan, [])).toEqual({ kind: 'score', tasks: [0, 1, 2].map((candidate) => ({ candidate, rung: 0 })) });
    expect(nextStep(plan, [row(1, [0.9])])).toEqual({ kind: 'score', tasks: [{ candidate: 0, rung: 0 }, { candidate: 2, rung: 0 }] });
    expect(nextStep(plan, [row(0, [0.7, 0.9]), row(2, [0.8, 0.8], 0.01), row(1, null)])).toEqual({ kind: 'chosen', candidate: 0, rung: 0, accuracy: 0.8, folds: 2 });
  });
  it('an ok row of a candidate wins over its failed one; every candidate failed gives the first reason', () => {
    expect(nextStep(plan, [row(0, [0.5]), row(1, [0.6]), row(1, null), row(2, null)])).toMatchObject({ kind: 'chosen', candidate: 1 });
    expect(nextStep(plan, [row(0, null), row(1, null), row(2, null)])).toEqual({ kind: 'none', reason: 'every candidate setting failed in selection (first: c0 threw)' });
  });
});

describe('selection rows', () => {
  it('old rows parse, and the new fields (env, rung, resource, search, elapsedSeconds) validate', () => {
    expect(selectionRowSchema.safeParse(row(0, [0.5])).success).toBe(true);
    const full = row(0, [0.5], 0.1, { env: { host: 'h', worker: 'h#1', engine: 'ort' }, rung: 2, resource: { kind: 'rows', value: 198 }, search: 'halving', elapsedSeconds: 1.5 });
    expect(selectionRowSchema.parse(full)).toEqual(full);
    expect(selectionRowSchema.safeParse({ ...full, rung: -1 }).success).toBe(false);
    expect(selectionRowSchema.safeParse({ ...full, resource: { kind: 'trees', value: 3 } }).success).toBe(false);
  });
});

describe('the Selection section names the tie rule that chose', () => {
  it('the earlier setting for rows of today\'s code; the faster fit for rows made before (no elapsedSeconds)', async () => {
    const { selectionSection } = await import('../src/report/sections/studies.ts');
    const text = async (rows: SelectionRow[]) => (await selectionSection(rows, []))!.markdown;
    expect(await text([row(0, [0.5], 0.1, { elapsedSeconds: 1 }), row(1, [0.6], 0.1, { elapsedSeconds: 1 })])).toContain('(ties: the earlier setting in the file)');
    expect(await text([row(0, [0.5]), row(1, [0.6])])).toContain('(ties: faster fit)');
  });
});
