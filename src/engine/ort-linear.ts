/** Moved to @digitbench/runtime (packages/runtime/src/engine/ort-linear.ts); re-exported for src/classifiers/naive-bayes.ts and test/ort-parity. */
export { gaussianCoefficients, gaussianScoresGraph, ortGaussianScores, tensorData, type GaussianScores } from '@digitbench/runtime/internal';
