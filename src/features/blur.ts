/** Gaussian blur: nothing to fit; the transform is the runtime's. Cached: it costs more than reading its output back. */
import { blur as runtime } from '@digitbench/runtime/internal';
import { defineStep } from './define.ts';

export const blur = defineStep(runtime, { expensive: true });
