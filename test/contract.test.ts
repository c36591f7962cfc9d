/**
 * One contract for every plugin: the built-ins and the example plugin loaded by path, through the suite a
 * plugin author runs on their own plugin (src/testing/contract.ts, `digitbench/testing`). Real MNIST rows,
 * each plugin with its small testParams. The SVM's models also live in libsvm-js's wasm heap: counted here.
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { builtins, resolvePlugin } from '../src/classifiers/registry.ts';
import { loadLibsvm, type LibsvmClass } from '../src/classifiers/svm.ts';
import { describePluginContract } from '../src/testing/contract.ts';

const example = await resolvePlugin(resolve(__dirname, '../examples/nearest-centroid.ts'));

/** libsvm-js models in the wasm heap that were trained and not freed (counted by wrapping its class). */
let svmLive = 0;
let unwrap = () => {};
beforeAll(async () => {
  const SVM: LibsvmClass = await loadLibsvm();
  const { train, free } = SVM.prototype;
  SVM.prototype.train = function (this: { __live?: boolean }, ...args: Parameters<typeof train>) {
    if (!this.__live) svmLive++;
    this.__live = true;
    return train.apply(this as never, args);
  };
  SVM.prototype.free = function (this: { __live?: boolean }) {
    if (this.__live) svmLive--;
    this.__live = false;
    return free.apply(this as never);
  };
  unwrap = () => Object.assign(SVM.prototype, { train, free });
});
afterAll(() => unwrap());

for (const plugin of [...builtins, example]) {
  describePluginContract(plugin, { resources: () => ({ libsvmModels: svmLive }) });
}
