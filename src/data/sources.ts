/**
 * Where a dataset comes from: the experiment's `"dataset"`. A string is a built-in name (`mnist`,
 * `fashion-mnist`, `fashion-mnist:<dir>`) or a folder with the four MNIST-format idx files; an object
 * names one source with its options:
 *
 *   {"idx": "data/emnist-letters", "classes": ["a", "b", …]}
 *   {"csv": "data/scans.csv.gz", "labelColumn": "last", "imageShape": [20, 20], "pixelMax": 15, "classes": [...]}
 *   {"images": "data/my-digits", "imageShape": [28, 28], "normalize": "mnist"}
 *
 * Paths are relative to the current folder (as a string source's are). Every source gives raw pixels on
 * MNIST's 0–255 scale, bright ink on black, so feature steps behave alike on all of them. A source without
 * a separate test part gives an empty `test`, and the split carves a holdout from the pool (split.ts).
 * Only the schemas live here; the loaders are datasets.ts (names, idx), csv.ts and image-folder.ts.
 */
import { z } from 'zod';
import { canonicalJson } from '../engine/hash.ts';

/** Largest side of an image a dataset may have (pixels). */
export const MAX_IMAGE_SIDE = 1024;

const classNamesSchema = z
  .array(z.string().min(1))
  .min(2)
  .refine((names) => new Set(names).size === names.length, 'class names must be distinct');

const imageShapeSchema = z.tuple([z.number().int().min(1).max(MAX_IMAGE_SIDE), z.number().int().min(1).max(MAX_IMAGE_SIDE)]);

/** A display name for the dataset (reports, bundles); default: the file or folder's name. */
const nameSchema = z.string().min(1).max(200).optional();

export const idxSourceSchema = z
  .object({
    /** A folder with the four MNIST-format idx files (plain or .gz). */
    idx: z.string().min(1),
    name: nameSchema,
    /** Class names by label (label i is classes[i]). */
    classes: classNamesSchema.optional(),
  })
  .strict();

export const csvSourceSchema = z
  .object({
    /** One row per image (plain or .gz): a label column and the pixel columns. */
    csv: z.string().min(1),
    /** A second file, same layout, holding the test rows; without it, the split carves them (split.test). */
    test: z.string().min(1).optional(),
    name: nameSchema,
    /** Whether the first line is a header; "auto": it is when it is not all numbers. */
    header: z.union([z.boolean(), z.literal('auto')]).default('auto'),
    /** "first", "last", a header name or a 0-based column index. */
    labelColumn: z.union([z.enum(['first', 'last']), z.string().min(1), z.number().int().nonnegative()]).default('first'),
    /** A column of group ids (e.g. a writer): rows of one group never straddle train, validation and test. */
    groupColumn: z.union([z.string().min(1), z.number().int().nonnegative()]).optional(),
    /** Height × width; inferred when the pixel count is a square. */
    imageShape: imageShapeSchema.optional(),
    /** The largest pixel value (e.g. 15), mapped to 255; default: 1 when every value is within 0–1, else 255. */
    pixelMax: z.number().positive().optional(),
    /** Class names by label; labels in the file are 0-based indices, or these names. */
    classes: classNamesSchema.optional(),
    delimiter: z.string().length(1).default(','),
  })
  .strict();

export const imagesSourceSchema = z
  .object({
    /** A folder with one sub-folder per class (PNG or JPEG of any size), or with train/ and test/ holding them. */
    images: z.string().min(1),
    name: nameSchema,
    /** The shape every image is brought to. */
    imageShape: imageShapeSchema.default([28, 28]),
    /** "mnist": ink found, cropped, fitted and centred by mass (as predict does); "resize": grey and resized only. */
    normalize: z.enum(['mnist', 'resize']).default('mnist'),
    /** The class folders' order (default: sorted by name); each name must be a sub-folder. */
    classes: classNamesSchema.optional(),
  })
  .strict();

export type IdxSource = z.output<typeof idxSourceSchema>;
export type CsvSource = z.output<typeof csvSourceSchema>;
export type ImagesSource = z.output<typeof imagesSourceSchema>;
export type DatasetSource = string | IdxSource | CsvSource | ImagesSource;

const OBJECT_SCHEMAS = { csv: csvSourceSchema, images: imagesSourceSchema, idx: idxSourceSchema } as const;

/**
 * The experiment's `dataset` field: a string, or an object told apart by its `csv`, `images` or `idx` key,
 * validated by that source's schema (so its errors name the right fields).
 */
export const datasetSourceSchema = z.unknown().transform((v, ctx): DatasetSource => {
  if (typeof v === 'string' && v.length > 0) return v;
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const kinds = Object.keys(OBJECT_SCHEMAS).filter((k) => k in v) as (keyof typeof OBJECT_SCHEMAS)[];
    if (kinds.length === 1) {
      const r = OBJECT_SCHEMAS[kinds[0]!].safeParse(v);
      if (r.success) return r.data;
      for (const issue of r.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    }
    if (kinds.length > 1) {
      ctx.addIssue({ code: 'custom', message: `give one source: ${kinds.join(' or ')}, not both` });
      return z.NEVER;
    }
  }
  ctx.addIssue({
    code: 'custom',
    message: 'give a dataset name (mnist, fashion-mnist), a folder with the four idx files, or a source object: {"csv": file}, {"images": folder} or {"idx": folder}',
  });
  return z.NEVER;
});

/** A key that is the same for equal sources (for caches). */
export function sourceKey(source: DatasetSource): string {
  return typeof source === 'string' ? source : canonicalJson(source);
}

/** The file or folder a source reads (for messages). */
export function sourcePath(source: DatasetSource): string {
  if (typeof source === 'string') return source;
  if ('csv' in source) return source.csv;
  if ('images' in source) return source.images;
  return source.idx;
}
