/**
 * YAML with source positions: parse every document of a cluster file, report syntax errors and
 * duplicate keys with line:column, and find the position of any field path afterwards.
 */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, type Document, type Node, type ParsedNode } from 'yaml';
import type { ConfigError } from './issues.js';

export type PathSegment = string | number;

export interface SourceDocument {
  /** 1-based position of the document in the file (empty documents are skipped but counted). */
  index: number;
  data: unknown;
  /** Position of the document's first content. */
  line: number;
  column: number;
  locate(path: readonly PathSegment[], at?: 'key' | 'value'): { line: number; column: number };
}

export interface YamlParseResult {
  documents: SourceDocument[];
  errors: ConfigError[];
}

/** `spec.loadBalancer.addressPools[1].addresses[0]` */
export function formatPath(path: readonly PathSegment[], prefix = ''): string {
  let out = prefix;
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

function scalarKey(node: unknown): string | undefined {
  if (isScalar(node)) return String(node.value);
  return undefined;
}

function nodeStart(lc: LineCounter, node: Node | null | undefined, fallback: { line: number; column: number }) {
  const off = node?.range?.[0];
  if (off === undefined) return fallback;
  const p = lc.linePos(off);
  return { line: p.line, column: p.col };
}

function findDuplicateKeys(node: unknown, path: PathSegment[], lc: LineCounter, out: ConfigError[]): void {
  if (isMap(node)) {
    const seen = new Map<string, Node>();
    for (const pair of node.items) {
      const key = scalarKey(pair.key);
      if (key !== undefined) {
        const first = seen.get(key);
        if (first) {
          const pos = nodeStart(lc, pair.key as Node, { line: 1, column: 1 });
          const firstPos = nodeStart(lc, first, pos);
          out.push({
            code: 'DuplicateKey', path: formatPath([...path, key]), ...pos,
            message: `key "${key}" appears twice in the same mapping (first at line ${firstPos.line}); YAML keeps only one of them`,
            suggestion: `Keep one "${key}" entry and merge the two.`,
            values: [key],
          });
        } else if (pair.key) {
          seen.set(key, pair.key as Node);
        }
        findDuplicateKeys(pair.value, [...path, key], lc, out);
      }
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => findDuplicateKeys(item, [...path, i], lc, out));
  }
}

function makeLocator(doc: Document.Parsed<ParsedNode>, lc: LineCounter, docPos: { line: number; column: number }) {
  return (path: readonly PathSegment[], at: 'key' | 'value' = 'value') => {
    let node: unknown = doc.contents;
    let pos = nodeStart(lc, doc.contents, docPos);
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && scalarKey(p.key) === String(seg));
        if (!pair) return pos;
        if (last && at === 'key') return nodeStart(lc, pair.key as Node, pos);
        pos = nodeStart(lc, (pair.value ?? pair.key) as Node, nodeStart(lc, pair.key as Node, pos));
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item === undefined) return pos;
        pos = nodeStart(lc, item as Node, pos);
        node = item;
      } else {
        return pos;
      }
    }
    return pos;
  };
}

function isCyclic(v: unknown, ancestors: Set<unknown> = new Set()): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (ancestors.has(v)) return true;
  ancestors.add(v);
  const children = v instanceof Map ? [...v.values()] : Object.values(v);
  const found = children.some((c) => isCyclic(c, ancestors));
  ancestors.delete(v);
  return found;
}

/** Parse all documents; YAML errors and duplicate keys come back as ConfigErrors. */
export function parseYamlDocuments(text: string): YamlParseResult {
  const lc = new LineCounter();
  const errors: ConfigError[] = [];
  const documents: SourceDocument[] = [];
  let parsed: Document.Parsed<ParsedNode>[];
  try {
    parsed = parseAllDocuments(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false, strict: true }) as Document.Parsed<ParsedNode>[];
  } catch (e) {
    return { documents, errors: [{ code: 'YamlSyntax', path: '', line: 1, column: 1, message: `the file is not YAML: ${(e as Error).message}`, suggestion: 'Fix the YAML syntax.' }] };
  }
  if (!Array.isArray(parsed)) parsed = [parsed as unknown as Document.Parsed<ParsedNode>];
  parsed.forEach((doc, i) => {
    // Only the first error of a document: the parser's later ones mostly follow from it.
    for (const err of doc.errors.slice(0, 1)) {
      const p = err.linePos?.[0] ?? lc.linePos(err.pos[0]);
      errors.push({
        code: 'YamlSyntax', path: '', line: p.line, column: p.col,
        message: `YAML syntax error in document ${i + 1}: ${err.message.split('\n')[0]}`,
        suggestion: 'Fix the YAML at this position (indentation, quoting, a missing ":" or "-").',
      });
    }
    if (doc.errors.length > 0) return;
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return; // empty document
    const docPos = nodeStart(lc, doc.contents, { line: 1, column: 1 });
    findDuplicateKeys(doc.contents, [], lc, errors);
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: 50 });
    } catch (e) {
      errors.push({ code: 'YamlSyntax', path: '', ...docPos, message: `document ${i + 1} cannot be read: ${(e as Error).message}`, suggestion: 'Remove aliases and custom tags; write the values out.' });
      return;
    }
    if (isCyclic(data)) {
      errors.push({ code: 'YamlSyntax', path: '', ...docPos, message: `document ${i + 1} contains an alias that refers to itself (a recursive structure)`, suggestion: 'Remove the recursive alias; write the values out.' });
      return;
    }
    documents.push({ index: i + 1, data, ...docPos, locate: makeLocator(doc, lc, docPos) });
  });
  return { documents, errors };
}
