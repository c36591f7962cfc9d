/** Kernels the tfjs wasm backend lacks, registered for wasm only. */
export function registerWasmKernels(): void {
  // Conv2DBackpropFilter is added with the CNN plugin.
}
