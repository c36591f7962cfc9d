/** Datasets from folders of images (work in progress: being written). */
import type { Dataset } from './datasets.ts';
import type { ImagesSource } from './sources.ts';

export async function loadImageFolder(source: ImagesSource): Promise<Dataset> {
  throw new Error(`Dataset ${source.images}: image folders are not read yet.`);
}
