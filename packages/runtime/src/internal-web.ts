/**
 * The part of ./internal.ts that runs in a web page (no Node built-in in its graph): what the
 * workbench's modules that a page can load (src/classifiers/plugin.ts, which plugin files import) take
 * from the runtime. Not a public API.
 */
export * from './engine/matrix.ts';
export * from './input/normalize.ts';
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
export * from './input/image-header.ts';
export * from './models/builtins.ts';
export * from './bundle/model.ts';
export * from './models/compact.ts';
export * from './models/calibration.ts';
export * from './corruptions/index.ts';
export * from './models/svm-fast.ts';
