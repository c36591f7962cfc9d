/** Pixels 0–255 → [0, 1]: nothing to fit; the transform is the runtime's. */
import { scale as runtime } from '@digitbench/runtime/internal';
import { defineStep } from './define.ts';

export const scale = defineStep(runtime, { expensive: false });
