/** Drops the features that take one value on every training row: the fit finds them; the transform is the runtime's. */
import { dropConstant as runtime } from '@digitbench/runtime/internal';
import { defineStep } from './define.ts';

export const dropConstant = defineStep(runtime, {
  expensive: false,
  fit(x) {
    const kept: number[] = [];
    for (let j = 0; j < x.cols; j++) {
      const first = x.data[j];
      let constant = true;
      for (let i = 1; i < x.rows && constant; i++) constant = x.data[i * x.cols + j] === first;
      if (!constant) kept.push(j);
    }
    return { keep: Int32Array.from(kept), cols: x.cols };
  },
});
