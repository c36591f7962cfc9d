/** Moved to @digitbench/runtime (packages/runtime/src/engine/onnx.ts); re-exported while src/export, src/bench/ceiling.ts and tests import it here. */
export { DataType, GraphBuilder, type Attribute, type Dim } from '@digitbench/runtime/internal';
