/** Second-moment deskewing: nothing to fit; the transform is the runtime's. Cached: it costs more than reading its output back. */
import { deskew as runtime } from '@digitbench/runtime/internal';
import { defineStep } from './define.ts';

export const deskew = defineStep(runtime, { expensive: true });
