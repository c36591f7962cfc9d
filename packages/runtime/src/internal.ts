/**
 * What the digitbench workbench uses from the runtime beyond the public API: the bundle format's
 * writer and internals, matrices, feature steps, the model plugins' internals, and the Node file
 * readers. Not a public API: it changes with the workbench. ./internal-web.ts is its browser-safe part.
 */
export * from './internal-web.ts';
export * from './io/files.ts';
export * from './io/idx.ts';
export * from './bundle/read.node.ts';
export * from './input/decode.node.ts';
export * from './engine/ort.ts';
export * from './engine/onnx.ts';
export * from './engine/ort-minima.ts';
export * from './engine/chunk-search.ts';
export * from './engine/ort-svm.ts';
export * from './engine/ort-linear.ts';
export { checkWeights, cnnForwardGraph, cnnShapes, forward as cnnForward, layersOf, Names as GraphNames, type CnnLayer, type LayersLike, type Saved as CnnSaved, type Shape as CnnShape } from './engine/ort-cnn-forward.ts';
