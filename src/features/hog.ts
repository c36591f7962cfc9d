/** Histograms of oriented gradients: nothing to fit; the transform is the runtime's. Cached: it costs more than reading its output back. */
import { hog as runtime } from '@digitbench/runtime/internal';
import { defineStep } from './define.ts';

export const hog = defineStep(runtime, { expensive: true });
