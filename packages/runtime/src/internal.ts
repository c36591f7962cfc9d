/**
 * What the digitbench workbench uses from the runtime beyond the public API: the bundle format's
 * writer and internals, matrices, feature specs and states, and the Node file readers. Not a public
 * API: it changes with the workbench.
 */
export * from './engine/matrix.ts';
export * from './input/normalize.ts';
export * from './io/files.ts';
export * from './io/idx.ts';
export * from './features/spec.ts';
export * from './features/step.ts';
export * from './bundle/format.ts';
export * from './models/plugin.ts';
export * from './schema.ts';
export * from './models/cart-trees.ts';
export * from './models/decision-tree.ts';
export * from './models/random-forest.ts';
export * from './models/naive-bayes.ts';
export * from './models/cnn-format.ts';
export * from './models/svm.ts';
export * from './bundle/read.node.ts';
export * from './engine/nearest.ts';
export * from './models/knn.ts';
export * from './features/steps.ts';
export * from './features/pipeline.ts';
export * from './features/scale.ts';
export * from './features/standardize.ts';
export * from './features/drop-constant.ts';
export * from './features/deskew.ts';
export * from './features/blur.ts';
export * from './features/downsample.ts';
export * from './features/hog.ts';
export * from './features/pca.ts';
export * from './input/decode.node.ts';
export * from './input/image-header.ts';
export * from './models/builtins.ts';
export * from './bundle/model.ts';
