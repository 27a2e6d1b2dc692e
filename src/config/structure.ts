/**
 * Structural checks of one document against its zod schema, turned into ConfigErrors with
 * positions, plus notices for the GDCV fields bmlb ignores.
 */
import { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import type { ConfigError, ConfigNotice } from './issues.js';
import { IGNORED_KEY } from './schema.js';
import { formatPath, type PathSegment, type SourceDocument } from './yaml-source.js';

type AnySchema = z.ZodType;

function metaOf(s: AnySchema): Record<string, unknown> | undefined {
  return z.globalRegistry.get(s) as Record<string, unknown> | undefined;
}

/** Strip optional wrappers. */
function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  while (cur instanceof z.ZodOptional || cur instanceof z.ZodNullable) cur = cur.unwrap() as AnySchema;
  return cur;
}

/** A declared field of an object schema (never an inherited property such as `toString`). */
function ownField(o: z.ZodObject, key: string): AnySchema | undefined {
  const shape = o.shape as Record<string, AnySchema>;
  return Object.hasOwn(shape, key) ? shape[key] : undefined;
}

/** The schema of the field at `path` (undefined when the path leaves the schema). */
export function schemaAt(root: AnySchema, path: readonly PathSegment[]): AnySchema | undefined {
  let cur: AnySchema | undefined = root;
  for (const seg of path) {
    if (!cur) return undefined;
    const u = unwrap(cur);
    if (u instanceof z.ZodObject && typeof seg === 'string') cur = ownField(u, seg);
    else if (u instanceof z.ZodArray && typeof seg === 'number') cur = u.element as AnySchema;
    else if (u instanceof z.ZodRecord) cur = u.valueType as AnySchema;
    else return undefined;
  }
  return cur;
}

/** Where else in the schema a field of this name is declared (parent paths, `[]` for list items). */
function elsewhere(root: AnySchema, key: string): string[] {
  const out: string[] = [];
  const visit = (s: AnySchema, path: string, depth: number) => {
    if (depth > 8) return;
    const u = unwrap(s);
    if (u instanceof z.ZodArray) visit(u.element as AnySchema, `${path}[]`, depth + 1);
    else if (u instanceof z.ZodObject) {
      for (const [k, v] of Object.entries(u.shape as Record<string, AnySchema>)) {
        if (k === key && metaOf(v)?.[IGNORED_KEY] !== true) out.push(path);
        visit(v, path ? `${path}.${k}` : k, depth + 1);
      }
    }
  };
  visit(root, '', 0);
  return out;
}

function knownKeys(root: AnySchema, path: readonly PathSegment[]): string[] {
  const s = schemaAt(root, path);
  const u = s ? unwrap(s) : undefined;
  return u instanceof z.ZodObject ? Object.keys(u.shape) : [];
}

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `the string "${v.length > 60 ? `${v.slice(0, 57)}...` : v}"`;
  return `${typeof v} ${String(v)}`;
}

function expectedText(expected: string): string {
  switch (expected) {
    case 'object': return 'a mapping';
    case 'array': return 'a list';
    case 'int': return 'a whole number';
    default: return `a ${expected}`;
  }
}

const PLACEHOLDER = /<[^<>\n]+>/;

export function isPlaceholder(v: unknown): v is string {
  return typeof v === 'string' && PLACEHOLDER.test(v);
}

/** Validate `doc.data` against `schema`; paths in results get `prefix`. */
export function checkStructure(schema: AnySchema, doc: SourceDocument, prefix: string): { errors: ConfigError[]; notices: ConfigNotice[] } {
  const errors: ConfigError[] = [];
  const notices: ConfigNotice[] = [];
  const placeholderPaths = new Set<string>();

  // Placeholders left from `bmlb create config` (any string field written as <...>).
  const walkPlaceholders = (v: unknown, path: PathSegment[]) => {
    if (isPlaceholder(v)) {
      const key = formatPath(path);
      placeholderPaths.add(key);
      errors.push({
        code: 'PlaceholderValue', path: formatPath(path, prefix), ...doc.locate(path),
        message: `${formatPath(path, prefix)} is still the placeholder ${v}`,
        suggestion: `Replace ${v} with the real value.`, values: [v],
      });
    } else if (Array.isArray(v)) v.forEach((x, i) => walkPlaceholders(x, [...path, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walkPlaceholders(x, [...path, k]);
  };
  walkPlaceholders(doc.data, []);

  const result = schema.safeParse(doc.data);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      const where = formatPath(path, prefix);
      const value = valueAt(doc.data, path);
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeys(schema, path);
        for (const key of issue.keys) {
          const kp = [...path, key];
          const moved = elsewhere(schema, key).filter((p) => p !== formatPath(path).replace(/\[\d+\]/g, '[]'));
          const guess = didYouMean(key, known);
          errors.push({
            code: 'UnknownField', path: formatPath(kp, prefix), ...doc.locate(kp, 'key'),
            message: `unknown field "${key}" in ${where || 'this document'}`,
            suggestion: moved.length > 0
              ? `"${key}" belongs under ${moved.map((p) => p || 'the top level').join(' or ')}; move it there.`
              : guess
                ? `Did you mean "${guess}"? Rename the field.`
                : `Remove "${key}"; the fields allowed here are: ${known.join(', ')}.`,
            values: !moved.length && guess ? [key, guess] : [key],
          });
        }
        continue;
      }
      if (placeholderPaths.has(formatPath(path))) continue; // already reported
      if (issue.code === 'not_multiple_of') continue; // a cross-field rule names it (validate.ts)
      if (issue.code === 'invalid_type') {
        if (value === undefined) {
          errors.push({
            code: 'RequiredField', path: where, ...doc.locate(path),
            message: `${where} is required and missing`,
            suggestion: `Add ${where} (${expectedText(issue.expected)}).`,
          });
        } else {
          errors.push({
            code: 'InvalidType', path: where, ...doc.locate(path),
            message: `${where} must be ${expectedText(issue.expected)}, not ${describeValue(value)}`,
            suggestion: `Write ${where} as ${expectedText(issue.expected)}.`, values: [value],
          });
        }
      } else if (issue.code === 'invalid_value' && value === undefined) {
        const allowed = issue.values.map((v) => JSON.stringify(v)).join(', ');
        errors.push({
          code: 'RequiredField', path: where, ...doc.locate(path),
          message: `${where} is required and missing (one of ${allowed})`,
          suggestion: issue.values.length === 1 ? `Add ${where}: ${String(issue.values[0])}.` : `Add ${where} with one of ${allowed}.`,
        });
      } else if (issue.code === 'invalid_value') {
        const allowed = issue.values.map((v) => JSON.stringify(v)).join(', ');
        errors.push({
          code: 'InvalidValue', path: where, ...doc.locate(path),
          message: `${where} is ${value === undefined ? 'missing' : JSON.stringify(value)}; allowed: ${allowed}`,
          suggestion: issue.values.length === 1 ? `Set ${where} to ${allowed}.` : `Use one of ${allowed}.`, values: [value],
        });
      } else if ((issue.code === 'too_small' || issue.code === 'too_big') && issue.origin === 'array') {
        errors.push({
          code: 'RequiredField', path: where, ...doc.locate(path),
          message: `${where} is an empty list; it needs at least ${String(issue.code === 'too_small' ? issue.minimum : 1)} entry`,
          suggestion: `Add an entry to ${where}.`,
        });
      } else if (issue.code === 'too_small' || issue.code === 'too_big') {
        const s = schemaAt(schema, path);
        const u = s ? unwrap(s) : undefined;
        const min = u instanceof z.ZodNumber ? u.minValue : undefined;
        const max = u instanceof z.ZodNumber ? u.maxValue : undefined;
        errors.push({
          code: 'OutOfRange', path: where, ...doc.locate(path),
          message: `${where} is ${String(value)}; it must be from ${String(min)} to ${String(max)}`,
          suggestion: `Set ${where} to a whole number from ${String(min)} to ${String(max)}.`, values: [value],
        });
      } else {
        errors.push({
          code: 'InvalidValue', path: where, ...doc.locate(path),
          message: `${where}: ${issue.message} (got ${describeValue(value)})`,
          suggestion: `Correct ${where}.`, values: [value],
        });
      }
    }
  }

  // Notices for GDCV fields bmlb ignores.
  const walk = (s: AnySchema | undefined, v: unknown, path: PathSegment[]) => {
    if (!s || v === undefined) return;
    if (metaOf(s)?.[IGNORED_KEY] === true) {
      notices.push({
        code: 'IgnoredField', path: formatPath(path, prefix), ...doc.locate(path, 'key'),
        message: `${formatPath(path, prefix)} is a GDCV field bmlb does not use; it is accepted and ignored`,
      });
      return;
    }
    const u = unwrap(s);
    if (u instanceof z.ZodObject && v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v)) walk(ownField(u, k), x, [...path, k]);
    } else if (u instanceof z.ZodArray && Array.isArray(v)) {
      v.forEach((x, i) => walk(u.element as AnySchema, x, [...path, i]));
    }
  };
  walk(schema, doc.data, []);
  return { errors, notices };
}
