/** Pareto sets: the candidates no other candidate beats on every objective at once. */

export interface Objective<T> {
  value: (item: T) => number | undefined;
  /** 'max' for accuracy, 'min' for latency and size. */
  goal: 'max' | 'min';
}

/** Missing or NaN values count as the worst possible (an unknown model size is no advantage). */
function score<T>(o: Objective<T>, item: T): number {
  const v = o.value(item);
  const worst = o.goal === 'max' ? -Infinity : Infinity;
  if (v === undefined || Number.isNaN(v)) return worst;
  return o.goal === 'max' ? v : -v; // larger is better from here on
}

/** True when a is at least as good as b on every objective and strictly better on one. */
export function dominates<T>(a: T, b: T, objectives: readonly Objective<T>[]): boolean {
  let strictly = false;
  for (const o of objectives) {
    const sa = score(o, a);
    const sb = score(o, b);
    if (sa < sb) return false;
    if (sa > sb) strictly = true;
  }
  return strictly;
}

/** Indices (ascending) of the items no other item dominates. Ties on every objective all stay. */
export function paretoIndices<T>(items: readonly T[], objectives: readonly Objective<T>[]): number[] {
  const out: number[] = [];
  items.forEach((a, i) => {
    if (!items.some((b, j) => j !== i && dominates(b, a, objectives))) out.push(i);
  });
  return out;
}

export interface DeployCandidate {
  accuracy: number;
  latencyMs?: number;
  modelBytes?: number;
}

/** Pareto set for deployment: maximize accuracy, minimize per-sample latency and model size. */
export function deploymentPareto<T extends DeployCandidate>(items: readonly T[]): number[] {
  return paretoIndices(items, [
    { value: (r) => r.accuracy, goal: 'max' },
    { value: (r) => r.latencyMs, goal: 'min' },
    { value: (r) => r.modelBytes, goal: 'min' },
  ]);
}
