/**
 * Successive halving's schedule, as scikit-learn 1.2's BaseSuccessiveHalving._check_input_parameters and
 * _run_search compute it (HalvingGridSearchCV's n_resources_ and n_candidates_):
 *   smallest = n_splits · 2 · n_classes (rows) or 1 (epochs); exhaust: min = max(smallest, max // η^(n_required−1));
 *   n_required = 1 + ⌊log_η n_candidates⌋; n_possible = 1 + ⌊log_η(max // min)⌋;
 *   rungs = aggressive ? n_required : min(n_possible, n_required);
 *   rung i: power = aggressive ? max(0, i − n_required + n_possible) : i; r_i = min(⌊η^power · min⌋, max);
 *   candidates: n_0 = n_candidates, n_{i+1} = ⌈n_i / η⌉ (the best by validation accuracy, then file order).
 * One difference: ⌊log_η x⌋ is exact here (the largest k with η^k ≤ x, by repeated multiplication), where
 * Python's floor(log(x, η)) is one short at some exact powers (log(243, 3) = 4.999999999999999).
 * The rows resource's subsamples are made elsewhere (data/split.ts `subsampleFold`).
 */

export interface HalvingOptions {
  /** η (> 1). */
  factor: number;
  minResources: number | 'exhaust' | 'smallest';
  maxResources: number | 'auto';
  aggressiveElimination: boolean;
}

export interface HalvingInputs {
  resource: 'rows' | 'epochs';
  /** The rows the selection folds divide (the selection subset, else the training rows): 'auto' for rows. */
  samples: number;
  /** Cross-validation folds, or 1 for a validation part. */
  splits: number;
  classes: number;
  /** The plugin's epochs (from its params): 'auto' for epochs. */
  epochs?: number;
}

export interface Rung {
  /** Training rows the whole selection set would have (rows), or epochs. */
  resources: number;
  candidates: number;
}

export interface HalvingSchedule {
  minResources: number;
  maxResources: number;
  requiredRungs: number;
  possibleRungs: number;
  rungs: Rung[];
}

/** ⌊log_base x⌋ for x ≥ 1, base > 1: the largest k with base^k ≤ x (exact for integer bases below 2^53). */
export function floorLog(x: number, base: number): number {
  if (!(base > 1)) throw new Error(`floorLog: the base must be greater than 1 (got ${base})`);
  if (!(x >= 1)) throw new Error(`floorLog: x must be at least 1 (got ${x})`);
  let k = 0;
  for (let p = base; p <= x; p *= base) k++;
  return k;
}

/** The smallest resource scikit-learn allows ('smallest', and the floor of 'exhaust'). */
export function smallestResources(inputs: HalvingInputs): number {
  return inputs.resource === 'rows' ? inputs.splits * 2 * inputs.classes : 1;
}

/** The rung schedule for `candidates` settings. Errors are one line, naming the search key to change. */
export function halvingSchedule(candidates: number, options: HalvingOptions, inputs: HalvingInputs): HalvingSchedule {
  const eta = options.factor;
  if (!(eta > 1)) throw new Error(`search.factor: give a number greater than 1 (got ${eta}).`);
  if (!Number.isInteger(candidates) || candidates < 1) throw new Error(`search: halving needs at least one candidate (got ${candidates}).`);
  let max: number;
  if (options.maxResources === 'auto') {
    if (inputs.resource === 'rows') max = inputs.samples;
    else if (inputs.epochs !== undefined && Number.isInteger(inputs.epochs) && inputs.epochs > 0) max = inputs.epochs;
    else throw new Error('search.maxResources: "auto" takes the params\' epochs, which are not set; give maxResources or params.epochs.');
  } else max = options.maxResources;
  if (inputs.resource === 'rows' && max > inputs.samples) {
    throw new Error(`search.maxResources: ${max} rows, but the selection folds divide only ${inputs.samples}; give at most ${inputs.samples} or "auto".`);
  }
  const smallest = smallestResources(inputs);
  let min = typeof options.minResources === 'number' ? options.minResources : smallest;
  if (min > max) {
    throw new Error(`search.minResources: ${min} ${inputs.resource} is more than maxResources ${max}; lower minResources or raise maxResources.`);
  }
  const requiredRungs = 1 + floorLog(candidates, eta);
  if (options.minResources === 'exhaust') min = Math.max(min, Math.floor(max / eta ** (requiredRungs - 1)));
  const possibleRungs = 1 + floorLog(Math.floor(max / min), eta);
  const count = options.aggressiveElimination ? requiredRungs : Math.min(possibleRungs, requiredRungs);
  const rungs: Rung[] = [];
  let n = candidates;
  for (let i = 0; i < count; i++) {
    const power = options.aggressiveElimination ? Math.max(0, i - requiredRungs + possibleRungs) : i;
    rungs.push({ resources: Math.min(Math.floor(eta ** power * min), max), candidates: n });
    n = Math.ceil(n / eta);
  }
  return { minResources: min, maxResources: max, requiredRungs, possibleRungs, rungs };
}

/** How many of a rung's `n` candidates go on: ⌈n/η⌉. */
export function keptCount(n: number, factor: number): number {
  return Math.ceil(n / factor);
}

/** The rows a fold part of `size` keeps at `resources` of `samples` rows: ⌊r/n_samples · |part|⌋, as _SubsampleMetaSplitter does. */
export function subsampleSize(size: number, resources: number, samples: number): number {
  return Math.floor((resources / samples) * size);
}
