/**
 * A classifier entry's `search` (how its candidate settings are chosen: the full grid, a seeded random
 * sample, or successive halving) and `distributions` (what random sampling draws from), and the sampling
 * itself. Sampling happens once, when the experiment is parsed, so a run's candidates are fixed and hashed
 * into its id; the queue's workers and a local run score the same list.
 *
 * Dimensions, in a fixed order: the feature set (when the entry has more than one), then the grid's keys,
 * then the distributions' keys, each in file order. When every dimension is a list, candidates are drawn
 * without replacement from the grid those lists make (scikit-learn's ParameterSampler does the same);
 * otherwise each candidate draws each dimension in turn, and a candidate equal to one already drawn is
 * drawn again (at most 100 times).
 */
import { z } from 'zod';
import type { Rng } from '../../engine/rng.ts';

const pair = (low: z.ZodNumber, high: z.ZodNumber) => z.tuple([low, high]);
const ordered = (t: [number, number]) => t[0] < t[1];
const orderMessage = 'give [low, high] with low < high';

const choicesSchema = z.array(z.unknown()).min(1, 'list at least one choice');
const logUniformSchema = z.object({ logUniform: pair(z.number().positive(), z.number().positive()).refine(ordered, orderMessage) }).strict();
const uniformSchema = z.object({ uniform: pair(z.number(), z.number()).refine(ordered, orderMessage) }).strict();
const intSchema = z
  .object({ int: pair(z.number().int(), z.number().int()).refine(ordered, orderMessage), log: z.boolean().default(false) })
  .strict()
  .refine((d) => !d.log || d.int[0] >= 1, { path: ['int'], message: 'a log-scaled int range must start at 1 or more' });

/** A list of choices, or {logUniform: [lo, hi]}, {uniform: [lo, hi]}, {int: [lo, hi], log?}. Each form's own errors name its key. */
export const distributionSchema = z.unknown().transform((value, ctx) => {
  const schema = Array.isArray(value)
    ? choicesSchema
    : value && typeof value === 'object' && 'logUniform' in value
      ? logUniformSchema
      : value && typeof value === 'object' && 'uniform' in value
        ? uniformSchema
        : value && typeof value === 'object' && 'int' in value
          ? intSchema
          : undefined;
  if (!schema) {
    ctx.addIssue({ code: 'custom', message: 'give a list of choices, {"logUniform": [low, high]}, {"uniform": [low, high]} or {"int": [low, high], "log": false}' });
    return z.NEVER;
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', path: issue.path as (string | number)[], message: issue.message });
    return z.NEVER;
  }
  return r.data as unknown[] | z.output<typeof logUniformSchema> | z.output<typeof uniformSchema> | z.output<typeof intSchema>;
});
export type Distribution = z.output<typeof distributionSchema>;

export const searchSchema = z.discriminatedUnion('strategy', [
  z.object({ strategy: z.literal('grid') }).strict(),
  z.object({ strategy: z.literal('random'), candidates: z.number().int().positive(), seed: z.number().int().default(0) }).strict(),
  z
    .object({
      strategy: z.literal('halving'),
      /** 'grid': every grid point; a number or 'exhaust' (max // min resources): a random sample, as HalvingRandomSearchCV. */
      candidates: z.union([z.literal('grid'), z.literal('exhaust'), z.number().int().positive()]).default('grid'),
      factor: z.number().gt(1).default(3),
      resource: z.enum(['rows', 'epochs']).default('rows'),
      minResources: z.union([z.number().int().positive(), z.enum(['exhaust', 'smallest'])]).default('exhaust'),
      maxResources: z.union([z.number().int().positive(), z.literal('auto')]).default('auto'),
      aggressiveElimination: z.boolean().default(false),
      seed: z.number().int().default(0),
    })
    .strict(),
]);
export type SearchSpec = z.output<typeof searchSchema>;

export const distributionsSchema = z.record(z.string().min(1), distributionSchema);

/** One dimension of the space: a list of choices, or a distribution to draw from. */
export interface Dimension {
  /** 'featureSet', or a param name. */
  key: string;
  distribution: Distribution;
}

/** A drawn setting: the feature set's index among the entry's (when it is a dimension) and the drawn params. */
export interface Drawn {
  featureSet?: number;
  params: Record<string, unknown>;
}

/** One draw from a distribution. */
export function draw(distribution: Distribution, rng: Rng): unknown {
  if (Array.isArray(distribution)) return distribution[rng.int(distribution.length)];
  if ('logUniform' in distribution) {
    const [lo, hi] = distribution.logUniform;
    return Math.exp(Math.log(lo) + rng.next() * (Math.log(hi) - Math.log(lo)));
  }
  if ('uniform' in distribution) {
    const [lo, hi] = distribution.uniform;
    return lo + rng.next() * (hi - lo);
  }
  const [lo, hi] = distribution.int;
  if (!distribution.log) return lo + rng.int(hi - lo + 1);
  // floor of a log-uniform draw on [lo, hi + 1); the min guards the last float below hi + 1
  return Math.min(hi, Math.floor(Math.exp(Math.log(lo) + rng.next() * (Math.log(hi + 1) - Math.log(lo)))));
}

/** The number of settings when every dimension is a list; undefined when one is a distribution. */
export function gridSize(dimensions: Dimension[]): number | undefined {
  let n = 1;
  for (const d of dimensions) {
    if (!Array.isArray(d.distribution)) return undefined;
    n *= d.distribution.length;
  }
  return n;
}

/** The i-th point of the grid the list dimensions make, the first dimension outermost (the file order of a full grid). */
function gridPoint(dimensions: Dimension[], index: number): Drawn {
  const out: Drawn = { params: {} };
  let rest = index;
  for (let d = dimensions.length - 1; d >= 0; d--) {
    const values = dimensions[d]!.distribution as unknown[];
    const value = rest % values.length;
    rest = Math.floor(rest / values.length);
    if (dimensions[d]!.key === 'featureSet') out.featureSet = value;
    else out.params[dimensions[d]!.key] = values[value];
  }
  return out;
}

/**
 * `count` settings drawn with `rng`, in draw order. `check` (e.g. the plugin's parseParams) runs on every
 * draw and throws its own one-line error. A count above a finite grid's size is refused unless `cap`
 * (halving's candidates: "exhaust", which scikit-learn caps the same way).
 */
export function sampleSpace(dimensions: Dimension[], count: number, rng: Rng, options: { where: string; cap?: boolean; check?: (d: Drawn) => void }): Drawn[] {
  const size = gridSize(dimensions);
  if (size !== undefined) {
    if (count > size && !options.cap) {
      throw new Error(`${options.where}: ${count} candidates asked, but the grid has only ${size} settings; ask for at most ${size}, or give distributions.`);
    }
    const n = Math.min(count, size);
    // a partial Fisher–Yates shuffle of the grid's indices: the first n are a sample without replacement
    const order = Array.from({ length: size }, (_, i) => i);
    const out: Drawn[] = [];
    for (let i = 0; i < n; i++) {
      const j = i + rng.int(size - i);
      [order[i], order[j]] = [order[j]!, order[i]!];
      const point = gridPoint(dimensions, order[i]!);
      options.check?.(point);
      out.push(point);
    }
    return out;
  }
  const seen = new Set<string>();
  const out: Drawn[] = [];
  for (let i = 0; i < count; i++) {
    for (let attempt = 0; ; attempt++) {
      const point: Drawn = { params: {} };
      for (const d of dimensions) {
        const value = draw(d.distribution, rng);
        if (d.key === 'featureSet') point.featureSet = value as number;
        else point.params[d.key] = value;
      }
      const key = JSON.stringify([point.featureSet, point.params]);
      if (!seen.has(key)) {
        seen.add(key);
        options.check?.(point);
        out.push(point);
        break;
      }
      if (attempt >= 100) throw new Error(`${options.where}: candidate ${i + 1} of ${count} drew only settings already drawn (100 times); ask for fewer candidates or widen the distributions.`);
    }
  }
  return out;
}

/** zod's first issue as one line: `<where>.<path>: <message>.` */
export function issueLine(where: string, error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  return `${where}${path}: ${issue.message}.`;
}
