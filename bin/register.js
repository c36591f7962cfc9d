// Lets Node run the workbench from its TypeScript sources: registers tsx, and a resolve hook that adds
// the `digitbench-source` export condition, so `@digitbench/runtime` (an npm workspace) resolves to its
// sources (packages/runtime/src) rather than its compiled dist. Used by bin/digitbench.js, worker
// threads (src/engine/threads.ts) and child processes (`node --import <this file>`).
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

export const SOURCE_CONDITION = 'digitbench-source';

registerTsx();
// Registered after tsx, so it runs first and tsx (then Node) resolve with the condition.
register(
  `data:text/javascript,${encodeURIComponent(`export async function resolve(specifier, context, next) {
  const conditions = context.conditions ?? [];
  return next(specifier, conditions.includes('${SOURCE_CONDITION}') ? context : { ...context, conditions: [...conditions, '${SOURCE_CONDITION}'] });
}`)}`,
);
