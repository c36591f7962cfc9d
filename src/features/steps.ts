/**
 * The built-in feature steps with their fitting: the workbench's one list, keyed by name. Typed against
 * the runtime's list (builtinSteps), so a step without its entry here, or an entry the runtime does not
 * have, is a compile error. A new step is its file plus a line here.
 */
import type { StepName, StepSpec, StepTransformOf } from '@digitbench/runtime/internal';
import { blur } from './blur.ts';
import type { StepDefinition } from './define.ts';
import { deskew } from './deskew.ts';
import { downsample } from './downsample.ts';
import { dropConstant } from './drop-constant.ts';
import { hog } from './hog.ts';
import { pca } from './pca.ts';
import { scale } from './scale.ts';
import { standardize } from './standardize.ts';

export const steps = {
  scale,
  standardize,
  'drop-constant': dropConstant,
  deskew,
  blur,
  downsample,
  hog,
  pca,
} satisfies { [N in StepName]: StepDefinition<StepTransformOf<N>> };

/** The step a spec names, typed for that spec. */
export function stepOf<S extends StepSpec>(spec: S): StepDefinition<StepTransformOf<S['step']>> {
  return steps[spec.step] as StepDefinition<StepTransformOf<S['step']>>;
}
