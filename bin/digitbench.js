#!/usr/bin/env node
// Runs the TypeScript CLI directly through tsx (no build step, so the bin never goes stale).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv);
