/** Block averaging: nothing to fit; the transform is the runtime's. */
import { downsample as runtime } from '@digitbench/runtime/internal';
import { defineStep } from './define.ts';

export const downsample = defineStep(runtime, { expensive: false });
