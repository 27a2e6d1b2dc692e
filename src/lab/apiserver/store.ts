/**
 * The generic in-memory object store: objects keyed by storage key (group/resource), namespace
 * and name, one global resourceVersion counter, and a bounded history of changes so watches can
 * resume from a resourceVersion (older than the history → "gone", i.e. 410).
 */
import { clone, type JsonObject } from './patch.js';

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }>;
  managedFields?: unknown[];
  [k: string]: unknown;
}

export type KubeObject = JsonObject & { apiVersion?: string; kind?: string; metadata: ObjectMeta & JsonObject };

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  type: ChangeType;
  key: string;
  rv: number;
  object: KubeObject;
  /** The previous state for MODIFIED and DELETED. */
  old?: KubeObject;
}

export type Since = { ok: true; changes: Change[] } | { ok: false; oldest: number };

function slot(ns: string | undefined, name: string): string {
  return `${ns ?? ''}/${name}`;
}

export class ObjectStore {
  private rv: number;
  private readonly data = new Map<string, Map<string, KubeObject>>();
  private readonly history: Change[] = [];
  /** Every change with rv <= compacted is gone from the history. */
  private compacted: number;
  private readonly listeners = new Set<(c: Change) => void>();

  constructor(private readonly historyLimit = 2000, initialRv = 1000) {
    this.rv = initialRv;
    this.compacted = initialRv;
  }

  currentRv(): number {
    return this.rv;
  }

  get(key: string, ns: string | undefined, name: string): KubeObject | undefined {
    const o = this.data.get(key)?.get(slot(ns, name));
    return o ? clone(o) : undefined;
  }

  /** All objects of a storage key (optionally in one namespace), sorted by namespace then name. */
  list(key: string, ns?: string): KubeObject[] {
    const m = this.data.get(key);
    if (!m) return [];
    const out: KubeObject[] = [];
    for (const o of m.values()) if (ns === undefined || o.metadata.namespace === ns) out.push(clone(o));
    return out.sort((a, b) => slot(a.metadata.namespace, a.metadata.name ?? '').localeCompare(slot(b.metadata.namespace, b.metadata.name ?? '')));
  }

  keys(): string[] {
    return [...this.data.keys()];
  }

  /** Stores a new object; assigns its resourceVersion. The caller has checked it does not exist. */
  create(key: string, obj: KubeObject): KubeObject {
    const stored = clone(obj);
    stored.metadata.resourceVersion = String(++this.rv);
    let m = this.data.get(key);
    if (!m) this.data.set(key, (m = new Map()));
    m.set(slot(stored.metadata.namespace, stored.metadata.name!), stored);
    this.emit({ type: 'ADDED', key, rv: this.rv, object: stored });
    return clone(stored);
  }

  update(key: string, obj: KubeObject): KubeObject {
    const m = this.data.get(key);
    const k = slot(obj.metadata.namespace, obj.metadata.name!);
    const old = m?.get(k);
    if (!m || !old) throw new Error(`store: update of missing object ${key} ${k}`);
    const stored = clone(obj);
    stored.metadata.resourceVersion = String(++this.rv);
    m.set(k, stored);
    this.emit({ type: 'MODIFIED', key, rv: this.rv, object: stored, old });
    return clone(stored);
  }

  remove(key: string, ns: string | undefined, name: string): KubeObject | undefined {
    const m = this.data.get(key);
    const old = m?.get(slot(ns, name));
    if (!m || !old) return undefined;
    m.delete(slot(ns, name));
    const gone = clone(old);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit({ type: 'DELETED', key, rv: this.rv, object: gone, old });
    return clone(gone);
  }

  /** Changes after `rv`, or the oldest resumable version when `rv` is older than the history. */
  since(rv: number): Since {
    if (rv < this.compacted) return { ok: false, oldest: this.compacted };
    return { ok: true, changes: this.history.filter((c) => c.rv > rv) };
  }

  subscribe(fn: (c: Change) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(c: Change): void {
    this.history.push(c);
    while (this.history.length > this.historyLimit) this.compacted = this.history.shift()!.rv;
    for (const fn of [...this.listeners]) fn(c);
  }
}
