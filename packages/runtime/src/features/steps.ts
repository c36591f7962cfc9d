/**
 * The built-in feature steps: the one list. The spec union (spec.ts), the step names and the pipeline
 * (pipeline.ts) are built from it; the workbench's list of fitting steps must name the same ones. A new
 * step is its file plus a line here.
 */
import { blur } from './blur.ts';
import { deskew } from './deskew.ts';
import { downsample } from './downsample.ts';
import { dropConstant } from './drop-constant.ts';
import { hog } from './hog.ts';
import { pca } from './pca.ts';
import { scale } from './scale.ts';
import { standardize } from './standardize.ts';
import type { StepTransformDefinition } from './step.ts';

export const builtinSteps = [scale, standardize, dropConstant, deskew, blur, downsample, hog, pca] as const;

export type BuiltinStep = (typeof builtinSteps)[number];
export type StepName = BuiltinStep['name'];

/** The runtime definition of the step `name`, typed by it. */
export type StepTransformOf<N extends StepName> = Extract<BuiltinStep, { name: N }>;

const byName = new Map<string, StepTransformDefinition>(builtinSteps.map((s) => [s.name, s as unknown as StepTransformDefinition]));

/** The definition of a step by name (as a spec's `step` field gives it), or undefined. */
export function stepTransform(name: string): StepTransformDefinition | undefined {
  return byName.get(name);
}
