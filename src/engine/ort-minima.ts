/** Moved to @digitbench/runtime (packages/runtime/src/engine/ort-minima.ts); re-exported for src/engine/distance.ts and test/ort.test.ts. */
export { chunkMinimaGraph, ortChunkMinima, type ChunkMinima } from '@digitbench/runtime/internal';
