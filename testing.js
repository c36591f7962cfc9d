// `digitbench/testing`: the plugin contract suite (src/testing/contract.ts) for a plugin author's own vitest
// file. Like index.js, it loads the TypeScript sources through tsx (bin/register.js) when Node loads it;
// under vitest, which transforms TypeScript itself, the `types` entry's source may be used directly.
import './bin/register.js';

const lib = await import('./src/testing/contract.ts');

export const { describePluginContract, mnistRows } = lib;
