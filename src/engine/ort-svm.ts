/** Moved to @digitbench/runtime (packages/runtime/src/engine/ort-svm.ts); re-exported for src/classifiers/svm-predict.ts. */
export { ortRbfProducts, rbfProductsGraph, type RbfProducts } from '@digitbench/runtime/internal';
