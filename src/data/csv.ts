/** Datasets from CSV files (work in progress: being written). */
import type { Dataset } from './datasets.ts';
import type { CsvSource } from './sources.ts';

export async function loadCsv(source: CsvSource): Promise<Dataset> {
  throw new Error(`Dataset ${source.csv}: CSV sources are not read yet.`);
}
