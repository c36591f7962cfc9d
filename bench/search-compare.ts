/**
 * Two searches of the same classifiers side by side, e.g. the full grid against successive halving:
 * `node --import ./bin/register.js bench/search-compare.ts reports/mnist-best runs/mnist-best-halving`.
 * Per classifier: the chosen setting, its validation and test accuracy, the (rung × candidate) tasks scored,
 * their candidate-seconds and the selection's wall time (harness/search/compare.ts). Times are only
 * comparable between runs on equally loaded machines.
 */
import { folderSearchFigures, type SearchFigures } from '../src/harness/search/compare.ts';
import { paramsShort, pct } from '../src/report/format.ts';
import { markdownTable } from '../src/report/table.ts';

const dirs = process.argv.slice(2);
if (dirs.length !== 2) {
  console.error('usage: bench/search-compare.ts <report folder A> <report folder B>');
  process.exit(2);
}
const [a, b] = await Promise.all(dirs.map((d) => folderSearchFigures(d)));
const line = (dir: string, f: SearchFigures) => [
  f.classifier,
  dir,
  f.search,
  [f.featureSet, f.varying.length ? paramsShort(Object.fromEntries(f.varying.map((k) => [k, f.params[k]])), 80) : ''].filter(Boolean).join('; '),
  f.validationAccuracy !== undefined ? pct(f.validationAccuracy) : '—',
  f.testAccuracy !== undefined ? pct(f.testAccuracy) : '—',
  String(f.scored),
  `${f.candidateSeconds.toFixed(1)}${f.timed === 'folds' ? ' (folds only)' : ''}`,
  `${f.timed === 'folds' ? '≥ ' : ''}${f.wallSeconds.toFixed(1)}`,
];
const rows = a!.flatMap((fa) => {
  const fb = b!.find((f) => f.classifier === fa.classifier);
  return fb ? [line(dirs[0]!, fa), line(dirs[1]!, fb)] : [];
});
if (!rows.length) {
  console.error(`no classifier with a selection in both ${dirs[0]} and ${dirs[1]}`);
  process.exit(1);
}
console.log(markdownTable(['classifier', 'folder', 'search', 'chosen', 'validation', 'test', 'scored', 'candidate-s', 'selection wall s'], rows, ['l', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'r']));
