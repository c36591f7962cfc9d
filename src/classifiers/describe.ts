/** Parameters of a plugin as rows (name, type, default, description), read from its zod schema. */
import { z } from 'zod';
import { safeParse } from '@digitbench/runtime/internal';
import type { ClassifierPlugin } from './plugin.ts';

interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  default?: unknown;
  description?: string;
  items?: JsonSchema;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return alts.map(typeOf).join(' | ');
  let t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type ?? 'any');
  if (t === 'array' && s.items) t = `${typeOf(s.items)}[]`;
  const lo = s.minimum ?? s.exclusiveMinimum;
  const max = s.maximum !== undefined && s.maximum < 1e15 ? s.maximum : undefined;
  const range = lo !== undefined || max !== undefined ? ` ${s.exclusiveMinimum !== undefined ? '>' : '≥'}${lo ?? '-∞'}${max !== undefined ? `, ≤${max}` : ''}` : '';
  return `${t}${range}`;
}

export function describeParams(plugin: ClassifierPlugin): { name: string; type: string; default: string; description: string }[] {
  let defaults: Record<string, unknown> = {};
  try {
    const r = safeParse(plugin.params, {});
    if (r.success) defaults = r.data as Record<string, unknown>; // else some params have no default
  } catch {
    // a schema that cannot parse an empty object
  }
  let schema: { properties?: Record<string, JsonSchema>; required?: string[] } = {};
  try {
    schema = z.toJSONSchema(plugin.params, { io: 'input', unrepresentable: 'any' }) as typeof schema;
  } catch {
    // not representable: list the defaults only
  }
  const names = new Set([...Object.keys(schema.properties ?? {}), ...Object.keys(defaults)]);
  return [...names].map((name) => {
    const s = schema.properties?.[name] ?? {};
    const dflt = name in defaults ? defaults[name] : s.default;
    const shown = dflt !== undefined ? JSON.stringify(dflt) : schema.required?.includes(name) ? '(required)' : '(none)';
    return { name, type: typeOf(s), default: shown, description: s.description ?? '' };
  });
}
