/**
 * zod/mini with English messages. zod/mini loads no locale (its messages are all "Invalid input"), and
 * setting one globally (`z.config`) would be a module side effect, so every parse in the runtime passes
 * the English error map itself, through `safeParse` here.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

const { localeError } = en();

/** zod/mini's safeParse with English issue messages (the same as classic zod's). */
export function safeParse<T>(schema: z.core.$ZodType<T>, value: unknown): z.core.util.SafeParseResult<T> {
  return z.safeParse(schema, value, { error: localeError });
}

/** The first issue of a failed parse as "field: message" (the field omitted at the root, or `root`). */
export function firstIssue(error: z.core.$ZodError, root = ''): string {
  const issue = error.issues[0]!;
  const field = issue.path.length ? issue.path.join('.') : root;
  return field ? `${field}: ${issue.message}` : issue.message;
}
