/**
 * bin/register.js: registers tsx and the `digitbench-source` condition (so @digitbench/runtime resolves
 * to its sources). Worker threads import it first (threads.ts); child processes get it as `--import`
 * (harness/isolated.ts, bench scripts). Node only.
 */
export const REGISTER_SOURCES = new URL('../../bin/register.js', import.meta.url).href;
