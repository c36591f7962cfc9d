/** Attaches a description to a zod/mini schema (shown by `digitbench list`, kept by z.toJSONSchema). */
import * as z from 'zod/mini';

export function described<T extends z.core.$ZodType>(schema: T, description: string): T {
  z.globalRegistry.add(schema, { description });
  return schema;
}
