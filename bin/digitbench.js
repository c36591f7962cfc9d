#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx (no build step, so the bin never goes stale); see register.js.
import './register.js';

const { main } = await import('../src/cli.ts');
// Exit explicitly: a worker or timer left behind by a failure must not keep the CLI alive.
process.exit(await main(process.argv));
