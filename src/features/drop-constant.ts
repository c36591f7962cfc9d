import { mapRows, stateArray, stateInt, type CreatedStep, type FeatureStep, type ImageShape } from '@digitbench/runtime/internal';

/** Drops features that take one value on every training row (67 MNIST pixels are always 0). */
export function dropConstantStep(_image: ImageShape): CreatedStep {
  let keep: Int32Array = new Int32Array(0);
  let cols = 0;
  const step: FeatureStep = {
    label: 'drop-constant',
    fit(x) {
      const kept: number[] = [];
      for (let j = 0; j < x.cols; j++) {
        const first = x.data[j];
        let constant = true;
        for (let i = 1; i < x.rows && constant; i++) constant = x.data[i * x.cols + j] === first;
        if (!constant) kept.push(j);
      }
      keep = Int32Array.from(kept);
      cols = x.cols;
    },
    transform: (x) => {
      if (x.cols !== cols) throw new Error(`Feature step "drop-constant" was fitted on ${cols} features but got rows of ${x.cols}; apply the same steps before it.`);
      return mapRows(x, keep.length, (src, dst) => {
        for (let k = 0; k < keep.length; k++) dst[k] = src[keep[k]!]!;
      });
    },
    state: () => ({ keep, cols }),
    setState(s) {
      cols = stateInt('drop-constant', s, 'cols');
      keep = stateArray('drop-constant', s, 'keep', Int32Array);
      if (keep.some((j) => j >= cols)) throw new Error('Feature step "drop-constant": the saved state keeps a feature past its width; the bundle is damaged or was written by another version.');
    },
  };
  return { step, image: undefined };
}
