/**
 * Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and field
 * selectors (`f=v`, `f==v`, `f!=v`), parsed once and matched against objects. Pure.
 */
export type LabelRequirement =
  | { op: 'eq'; key: string; value: string }
  | { op: 'neq'; key: string; value: string }
  | { op: 'in'; key: string; values: string[] }
  | { op: 'notin'; key: string; values: string[] }
  | { op: 'exists'; key: string }
  | { op: 'notexists'; key: string };

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Splits on commas that are not inside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((p) => p.trim()).filter((p) => p.length > 0);
}

function checkKey(key: string): string | undefined {
  return KEY.test(key) ? undefined : `invalid label key "${key}"`;
}

function checkValue(v: string): string | undefined {
  return VALUE.test(v) && v.length <= 63 ? undefined : `invalid label value: "${v}"`;
}

export function parseLabelSelector(text: string | undefined): ParseResult<LabelRequirement[]> {
  if (!text || !text.trim()) return { ok: true, value: [] };
  const reqs: LabelRequirement[] = [];
  for (const part of splitTop(text)) {
    let m: RegExpMatchArray | null;
    let req: LabelRequirement;
    if ((m = part.match(/^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      const values = m[3]!.split(',').map((v) => v.trim()).filter((v) => v.length > 0);
      req = { op: m[2] === 'in' ? 'in' : 'notin', key: m[1]!, values };
      for (const v of values) {
        const bad = checkValue(v);
        if (bad) return { ok: false, reason: bad };
      }
    } else if ((m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/))) {
      const bad = checkValue(m[3]!);
      if (bad) return { ok: false, reason: bad };
      req = m[2] === '!=' ? { op: 'neq', key: m[1]!, value: m[3]! } : { op: 'eq', key: m[1]!, value: m[3]! };
    } else if ((m = part.match(/^!\s*(\S+)$/))) {
      req = { op: 'notexists', key: m[1]! };
    } else if ((m = part.match(/^(\S+)$/))) {
      req = { op: 'exists', key: m[1]! };
    } else {
      return { ok: false, reason: `unable to parse requirement: "${part}"` };
    }
    const badKey = checkKey(req.key);
    if (badKey) return { ok: false, reason: badKey };
    reqs.push(req);
  }
  return { ok: true, value: reqs };
}

export function matchesLabels(reqs: readonly LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'eq': return has && v === r.value;
      case 'neq': return !has || v !== r.value;
      case 'in': return has && r.values.includes(v!);
      case 'notin': return !has || !r.values.includes(v!);
      case 'exists': return has;
      case 'notexists': return !has;
    }
  });
}

/** A matchLabels/matchExpressions selector (metav1.LabelSelector) as requirements. */
export function fromLabelSelectorObject(sel: { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> } | undefined | null):
  LabelRequirement[] {
  if (!sel) return [];
  const reqs: LabelRequirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, value]) => ({ op: 'eq', key, value }));
  for (const e of sel.matchExpressions ?? []) {
    switch (e.operator) {
      case 'In': reqs.push({ op: 'in', key: e.key, values: e.values ?? [] }); break;
      case 'NotIn': reqs.push({ op: 'notin', key: e.key, values: e.values ?? [] }); break;
      case 'Exists': reqs.push({ op: 'exists', key: e.key }); break;
      case 'DoesNotExist': reqs.push({ op: 'notexists', key: e.key }); break;
      default: reqs.push({ op: 'in', key: e.key, values: [] }); // unknown operator matches nothing
    }
  }
  return reqs;
}

export interface FieldRequirement {
  field: string;
  op: 'eq' | 'neq';
  value: string;
}

export function parseFieldSelector(text: string | undefined, allowed: readonly string[]): ParseResult<FieldRequirement[]> {
  if (!text || !text.trim()) return { ok: true, value: [] };
  const reqs: FieldRequirement[] = [];
  for (const part of splitTop(text)) {
    const m = part.match(/^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) return { ok: false, reason: `invalid selector: '${text}'; can't understand '${part}'` };
    const field = m[1]!;
    if (!allowed.includes(field)) return { ok: false, reason: `field label not supported: ${field}` };
    reqs.push({ field, op: m[2] === '!=' ? 'neq' : 'eq', value: m[3]!.trim() });
  }
  return { ok: true, value: reqs };
}

/** Reads a dotted field path from an object as the string kube-apiserver compares against. */
export function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[seg];
  }
  if (cur === undefined || cur === null) return '';
  if (typeof cur === 'object') {
    // `source` on core Events is matched against source.component.
    const c = (cur as Record<string, unknown>).component;
    return typeof c === 'string' ? c : '';
  }
  return String(cur);
}

export function matchesFields(reqs: readonly FieldRequirement[], obj: unknown): boolean {
  return reqs.every((r) => {
    const v = fieldValue(obj, r.field);
    return r.op === 'eq' ? v === r.value : v !== r.value;
  });
}
