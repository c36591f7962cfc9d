/**
 * The report: a pure function of result rows (no I/O, no clock). Same rows and options → same bytes.
 * Returns the Markdown text and the files it links to (SVG charts, PNG grids), for write.ts to save.
 * Analysis lives in analysis.ts and studies.ts, the sections in sections/, formatting in format.ts and
 * table.ts; this module puts them in order.
 */
import type { ResultRow } from '../results/row.ts';
import { buildGroups, deployLimits, largestSizeGroups } from './analysis.ts';
import { cmp, distinct } from './format.ts';
import { compareSection } from './sections/compare.ts';
import { configSection } from './sections/config.ts';
import { deploymentSection } from './sections/deployment.ts';
import { detailsSection } from './sections/details.ts';
import { envSection } from './sections/environment.ts';
import { failuresSection } from './sections/failures.ts';
import { headerSection } from './sections/header.ts';
import { robustnessSection } from './sections/robustness.ts';
import { significanceSection } from './sections/significance.ts';
import { featureSetsSection, learningCurveSection, repetitionsSection, selectionSection } from './sections/studies.ts';
import { summarySection } from './sections/summary.ts';
import { trustSection } from './sections/trust.ts';
import type { Report, ReportFile, ReportOptions } from './types.ts';

export { BUNDLES_OFF, type DeployLimits, type Report, type ReportFile, type ReportOptions } from './types.ts';
export { deploymentChoice, type DeploymentChoice } from './analysis.ts';

/** Renders the report from result rows. Pure: no files read or written, no clock. */
export async function renderReport(input: readonly ResultRow[], opts: ReportOptions = {}): Promise<Report> {
  // A fixed order, so the text does not depend on the order rows were appended in.
  const rows = [...input].sort((a, b) => cmp(a.startedAt, b.startedAt) || cmp(a.id, b.id));
  const warnings: string[] = [];
  const files: ReportFile[] = [];
  const groups = buildGroups(rows, warnings);
  const experiments = distinct(rows.map((r) => r.experiment));
  const title = opts.title ?? (experiments.length === 1 ? `digitbench: ${experiments[0]}` : 'digitbench report');
  const top = largestSizeGroups(groups);
  const studies = [
    await learningCurveSection(rows),
    await selectionSection(opts.selection ?? [], rows),
    await featureSetsSection(opts.selection ?? [], rows),
    await repetitionsSection(rows),
  ].filter((x) => x !== undefined);
  for (const st of studies) files.push(...st.files);
  const body = [
    summarySection(groups, opts.imageShape),
    compareSection(groups, opts),
    failuresSection(groups),
    ...studies.map((st) => st.markdown),
    await trustSection(top, files),
    await robustnessSection(top, files, opts),
    await deploymentSection(top, deployLimits(opts), files, opts.browser ?? [], opts.imageShape),
    significanceSection(top),
    await detailsSection(groups, opts, files),
    envSection(rows, opts.selection ?? []),
    configSection(opts.config),
  ];
  // The header goes last in code (warnings are collected while the sections render) but first in the text.
  const markdown = [headerSection(rows, title, warnings), ...body.filter((s) => s !== undefined)].join('\n\n') + '\n';
  return { markdown, files };
}
