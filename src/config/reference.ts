/**
 * The field reference of docs/cluster-file.md, generated from the zod schemas: one table row per
 * field with its type, default, origin (GDCV field bmlb uses, GDCV field bmlb ignores, bmlb
 * extension) and description. scripts/gen-schema.ts writes it; a unit test keeps it current.
 */
import { z } from 'zod';
import { ClusterDocumentSchema, EXTENSION_KEY, HeaderDocumentSchema, IGNORED_KEY, NodePoolDocumentSchema } from './schema.js';

export const REFERENCE_BEGIN = '<!-- BEGIN GENERATED REFERENCE (scripts/gen-schema.ts) -->';
export const REFERENCE_END = '<!-- END GENERATED REFERENCE -->';

type AnySchema = z.ZodType;

interface Row {
  path: string;
  type: string;
  required: boolean;
  def?: unknown;
  origin: 'GDCV' | 'GDCV, ignored' | 'bmlb';
  description: string;
}

function meta(s: AnySchema): Record<string, unknown> {
  return (z.globalRegistry.get(s) as Record<string, unknown> | undefined) ?? {};
}

function typeName(s: AnySchema): string {
  if (s instanceof z.ZodOptional) return typeName(s.unwrap() as AnySchema);
  if (s instanceof z.ZodString) return 'string';
  if (s instanceof z.ZodNumber) {
    const lo = s.minValue;
    const hi = s.maxValue;
    return lo !== null && hi !== null && hi < 1e15 ? `integer ${lo}–${hi}` : 'integer';
  }
  if (s instanceof z.ZodBoolean) return 'boolean';
  if (s instanceof z.ZodEnum) return (s.options as string[]).map((o) => `\`${o}\``).join(' \\| ');
  if (s instanceof z.ZodLiteral) return `\`${String([...s.values][0])}\``;
  if (s instanceof z.ZodArray) return `list of ${typeName(s.element as AnySchema)}`;
  if (s instanceof z.ZodRecord) return 'map of string';
  if (s instanceof z.ZodObject) return 'mapping';
  return 'any';
}

function collect(s: AnySchema, path: string, required: boolean, inherited: Row['origin'] | undefined, rows: Row[]): void {
  const m = { ...meta(s), ...(s instanceof z.ZodOptional ? meta(s.unwrap() as AnySchema) : {}) };
  const ignored = m[IGNORED_KEY] === true;
  const origin: Row['origin'] = ignored ? 'GDCV, ignored' : m[EXTENSION_KEY] === true ? 'bmlb' : inherited ?? 'GDCV';
  if (path) {
    rows.push({ path, type: ignored ? 'any' : typeName(s), required, ...(m.default !== undefined ? { def: m.default } : {}), origin, description: String(m.description ?? '') });
  }
  if (ignored) return;
  let inner: AnySchema = s;
  while (inner instanceof z.ZodOptional) inner = inner.unwrap() as AnySchema;
  if (inner instanceof z.ZodArray) {
    const el = inner.element as AnySchema;
    if (el instanceof z.ZodObject) collectObject(el, `${path}[]`, origin, rows);
  } else if (inner instanceof z.ZodObject) {
    collectObject(inner, path, origin, rows);
  }
}

function collectObject(o: z.ZodObject, path: string, origin: Row['origin'], rows: Row[]): void {
  for (const [k, v] of Object.entries(o.shape as Record<string, AnySchema>)) {
    collect(v, path ? `${path}.${k}` : k, !(v instanceof z.ZodOptional), origin === 'GDCV' ? undefined : origin, rows);
  }
}

function table(title: string, s: AnySchema, note: string): string {
  const rows: Row[] = [];
  collect(s, '', true, undefined, rows);
  const esc = (t: string) => t.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const lines = [
    `### ${title}`, '', note, '',
    '| field | type | required | default | origin | description |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| \`${r.path}\` | ${r.type} | ${r.required ? 'yes' : ''} | ${r.def === undefined ? '' : `\`${JSON.stringify(r.def)}\``} | ${r.origin} | ${esc(r.description)} |`),
  ];
  return lines.join('\n');
}

/** The generated section (between the markers) of docs/cluster-file.md. */
export function fieldReferenceMarkdown(): string {
  return [
    REFERENCE_BEGIN,
    '',
    table('Credentials header (document 1)', HeaderDocumentSchema, 'The first document has no `kind`.'),
    '',
    table('Cluster', ClusterDocumentSchema, '`apiVersion: baremetal.cluster.gke.io/v1`, `kind: Cluster`. "required" is relative to the enclosing mapping when it is present.'),
    '',
    table('NodePool', NodePoolDocumentSchema, 'Optional worker pools; their nodes are never LB nodes.'),
    '',
    REFERENCE_END,
  ].join('\n');
}

/** Replace the generated section in the text of docs/cluster-file.md. */
export function withFieldReference(doc: string): string {
  const a = doc.indexOf(REFERENCE_BEGIN);
  const b = doc.indexOf(REFERENCE_END);
  if (a < 0 || b < a) throw new Error('docs/cluster-file.md lacks the generated-reference markers');
  return doc.slice(0, a) + fieldReferenceMarkdown() + doc.slice(b + REFERENCE_END.length);
}
