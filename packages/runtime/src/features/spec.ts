/**
 * Feature pipelines described as data: the union of the built-in steps' spec schemas (zod/mini), and
 * the pipeline parser whose errors name the step (by position and name) and the field.
 */
import * as z from 'zod/mini';
import { firstIssue, safeParse } from '../schema.ts';
import { builtinSteps } from './steps.ts';

/** The list's spec schemas and names, as tuples in its order. */
type SpecsOf<T extends readonly unknown[]> = { -readonly [I in keyof T]: T[I] extends { spec: infer S } ? S : never };
type NamesOf<T extends readonly unknown[]> = { readonly [I in keyof T]: T[I] extends { name: infer N } ? N : never };
type SpecSchemas = SpecsOf<typeof builtinSteps>;
type Names = NamesOf<typeof builtinSteps>;

export const stepSpecSchema = z.discriminatedUnion('step', builtinSteps.map((s) => s.spec) as unknown as SpecSchemas);

export type StepSpec = z.output<typeof stepSpecSchema>;

/** The built-in step names, in the list's order. */
export const STEP_NAMES = builtinSteps.map((s) => s.name) as unknown as Names;

/** Validates a pipeline description; the error names the step (by position and name) and the field. */
export function parsePipeline(raw: unknown, where = 'pipeline'): StepSpec[] {
  if (!Array.isArray(raw)) throw new Error(`${where}: must be a list of steps like [{"step": "scale"}, {"step": "pca", "components": 50}].`);
  return raw.map((s, i) => {
    const r = safeParse(stepSpecSchema, s);
    if (r.success) return r.data;
    const name = s && typeof s === 'object' && 'step' in s ? String((s as { step: unknown }).step) : undefined;
    if (!name || !(STEP_NAMES as readonly string[]).includes(name)) {
      throw new Error(`${where}[${i}]: unknown step "${name ?? ''}"; use one of ${STEP_NAMES.join(', ')}.`);
    }
    throw new Error(`${where}[${i}] (${name}): ${firstIssue(r.error)}.`);
  });
}
