#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx (no build step, so the bin never goes stale); see register.js.
import './register.js';

const { main } = await import('../src/cli.ts');
const code = await main(process.argv);
// Exit explicitly (a worker or timer left behind by a failure must not keep the CLI alive), once stdout and
// stderr are written out: a pipe (e.g. `predict --json` of 500 images into jq) would otherwise get its
// first 64 kB chunks only.
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((done) => s.write('', () => done()))));
process.exit(code);
