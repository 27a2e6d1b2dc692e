/**
 * The three patch formats of the Kubernetes API. Pure functions over JSON values.
 *
 * - JSON merge patch (RFC 7386): maps merge, `null` deletes, lists replace.
 * - JSON patch (RFC 6902): add, remove, replace, move, copy, test.
 * - Strategic merge patch, the subset kubectl apply/edit/label/patch produce for built-in types:
 *   maps merge; `null` deletes a key; `$patch: replace` replaces a map, `$patch: delete` removes it;
 *   lists of objects with a well-known merge key (MERGE_KEYS) merge element by element (an element
 *   with `$patch: delete` removes the matching one); `finalizers` merges as a set;
 *   `$deleteFromPrimitiveList/<field>` removes values; `$retainKeys` drops keys not listed;
 *   `$setElementOrder/<field>` is accepted and only used to order merged lists. Every other list
 *   is replaced, as for types without a patch strategy.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export type PatchResult = { ok: true; value: Json } | { ok: false; reason: string };

export function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function decodePointer(p: string): string[] | undefined {
  if (p === '') return [];
  if (!p.startsWith('/')) return undefined;
  return p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** JSON text with object keys sorted: equal for semantically equal values. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(canonical(v));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (isObject(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  return v;
}

export interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

export function jsonPatch(doc: Json, ops: unknown): PatchResult {
  if (!Array.isArray(ops)) return { ok: false, reason: 'a JSON patch must be a list of operations' };
  let root: Json = clone(doc);
  const get = (path: string[]): { found: boolean; value?: Json } => {
    let cur: Json = root;
    for (const seg of path) {
      if (Array.isArray(cur)) {
        const i = Number(seg);
        if (!/^\d+$/.test(seg) || i >= cur.length) return { found: false };
        cur = cur[i]!;
      } else if (isObject(cur)) {
        if (!(seg in cur)) return { found: false };
        cur = cur[seg]!;
      } else return { found: false };
    }
    return { found: true, value: cur };
  };
  const parentOf = (path: string[]): { parent: Json | undefined; key: string } => {
    const r = get(path.slice(0, -1));
    return { parent: r.found ? r.value : undefined, key: path[path.length - 1]! };
  };
  const add = (path: string[], value: Json): string | undefined => {
    if (path.length === 0) { root = value; return undefined; }
    const { parent, key } = parentOf(path);
    if (Array.isArray(parent)) {
      const i = key === '-' ? parent.length : Number(key);
      if (!(key === '-' || /^\d+$/.test(key)) || i > parent.length) return `index ${key} out of range`;
      parent.splice(i, 0, value);
      return undefined;
    }
    if (isObject(parent)) { parent[key] = value; return undefined; }
    return `missing parent for path`;
  };
  const remove = (path: string[]): string | undefined => {
    const { parent, key } = parentOf(path);
    if (Array.isArray(parent)) {
      const i = Number(key);
      if (!/^\d+$/.test(key) || i >= parent.length) return `index ${key} out of range`;
      parent.splice(i, 1);
      return undefined;
    }
    if (isObject(parent) && key in parent) { delete parent[key]; return undefined; }
    return `path does not exist`;
  };
  for (const [n, raw] of ops.entries()) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') return { ok: false, reason: `operation ${n}: needs "op" and "path"` };
    const op = raw as unknown as JsonPatchOp;
    const path = decodePointer(op.path);
    if (!path) return { ok: false, reason: `operation ${n}: invalid path "${op.path}"` };
    let err: string | undefined;
    switch (op.op) {
      case 'add':
        if (!('value' in raw)) return { ok: false, reason: `operation ${n}: add needs "value"` };
        err = add(path, clone(op.value!));
        break;
      case 'remove':
        err = remove(path);
        break;
      case 'replace':
        if (!get(path).found) err = 'path does not exist';
        else if (path.length === 0) root = clone(op.value!);
        else { err = remove(path) ?? add(path, clone(op.value!)); }
        break;
      case 'move':
      case 'copy': {
        const from = decodePointer(op.from ?? '');
        if (!from) return { ok: false, reason: `operation ${n}: invalid from "${op.from}"` };
        const src = get(from);
        if (!src.found) { err = `from path "${op.from}" does not exist`; break; }
        const v = clone(src.value!);
        if (op.op === 'move') err = remove(from);
        err = err ?? add(path, v);
        break;
      }
      case 'test': {
        const cur = get(path);
        if (!cur.found || !deepEqual(cur.value, op.value)) err = `testing value ${op.path} failed`;
        break;
      }
      default:
        return { ok: false, reason: `operation ${n}: unknown op "${op.op}"` };
    }
    if (err) return { ok: false, reason: `operation ${n} (${op.op} ${op.path}): ${err}` };
  }
  return { ok: true, value: root };
}

/** Merge keys of the well-known lists of built-in types (patchMergeKey in the Go types). */
export const MERGE_KEYS: Readonly<Record<string, readonly string[]>> = {
  containers: ['name'],
  initContainers: ['name'],
  ephemeralContainers: ['name'],
  volumes: ['name'],
  env: ['name'],
  volumeMounts: ['mountPath'],
  volumeDevices: ['devicePath'],
  ports: ['containerPort', 'port'], // container ports by containerPort, Service ports by port
  imagePullSecrets: ['name'],
  hostAliases: ['ip'],
  ownerReferences: ['uid'],
  conditions: ['type'],
  addresses: ['type'],
  topologySpreadConstraints: ['topologyKey'],
  secrets: ['name'],
};

/** Lists of scalars merged as sets (patchStrategy merge on a primitive list). */
export const SET_LISTS: readonly string[] = ['finalizers'];

function mergeKeyFor(field: string, items: JsonObject[]): string | undefined {
  const candidates = MERGE_KEYS[field];
  if (!candidates) return undefined;
  return candidates.find((k) => items.every((i) => k in i)) ;
}

function strategicList(field: string, original: Json[] | undefined, patch: Json[], order: Json[] | undefined): Json[] {
  const orig = original ?? [];
  if (SET_LISTS.includes(field) && patch.every((v) => !isObject(v) && !Array.isArray(v))) {
    const out = [...orig];
    for (const v of patch) if (!out.some((o) => deepEqual(o, v))) out.push(v);
    return out;
  }
  const patchObjs = patch.filter(isObject);
  if (patchObjs.length !== patch.length || !orig.every(isObject)) return patch.map((p) => stripDirectives(p));
  const key = mergeKeyFor(field, [...patchObjs, ...(orig as JsonObject[])].filter((i) => i.$patch !== 'delete' || Object.keys(i).length > 1));
  if (!key) return patch.map((p) => stripDirectives(p));
  if (patchObjs.some((p) => p.$patch === 'replace')) return patchObjs.filter((p) => p.$patch !== 'replace').map((p) => stripDirectives(p));
  const out: JsonObject[] = (orig as JsonObject[]).map((o) => clone(o));
  for (const p of patchObjs) {
    const idx = out.findIndex((o) => deepEqual(o[key], p[key]));
    if (p.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMerge(out[idx], p) as JsonObject;
    else out.push(stripDirectives(p) as JsonObject);
  }
  if (order && order.every(isObject)) {
    const rank = (o: JsonObject): number => {
      const i = order.findIndex((e) => deepEqual((e as JsonObject)[key], o[key]));
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    return out.map((o, i) => ({ o, i })).sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i).map((e) => e.o);
  }
  return out;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, val] of Object.entries(v)) {
    if (k.startsWith('$')) continue;
    if (val === null) continue;
    out[k] = stripDirectives(val);
  }
  return out;
}

export function strategicMerge(original: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch);
  if (patch.$patch === 'replace') return stripDirectives(patch);
  const out: JsonObject = isObject(original) ? clone(original) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const cur = out[field];
      if (Array.isArray(cur) && Array.isArray(v)) out[field] = cur.filter((x) => !v.some((d) => deepEqual(d, x)));
      continue;
    }
    if (v === null) { delete out[k]; continue; }
    if (isObject(v)) {
      if (v.$patch === 'delete') { delete out[k]; continue; }
      out[k] = strategicMerge(out[k], v);
      continue;
    }
    if (Array.isArray(v)) {
      const order = patch[`$setElementOrder/${k}`];
      const cur = out[k];
      out[k] = strategicList(k, Array.isArray(cur) ? cur : undefined, v, Array.isArray(order) ? order : undefined);
      continue;
    }
    out[k] = v;
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    for (const k of Object.keys(out)) if (!retain.includes(k)) delete out[k];
  }
  return out;
}
