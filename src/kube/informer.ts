/**
 * A reconnecting list+watch cache for one resource collection. It lists, then watches from the
 * list's resourceVersion; when the watch ends it resumes from the last seen resourceVersion; when
 * the server says 410 Gone it lists again and reconciles the cache (emitting the adds, updates and
 * deletes the client missed). Handlers run synchronously in event order.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Kube } from './kube-client.js';
import { isKubeApiError } from './kube-client.js';

export type InformerEvent<T> =
  | { type: 'add'; object: T }
  | { type: 'update'; object: T; old: T }
  | { type: 'delete'; object: T }
  | { type: 'synced' };

export interface InformerOptions {
  /** Collection path, e.g. `/api/v1/services` or `/api/v1/namespaces/bmlb-system/configmaps`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Back-off between failed attempts, ms: starts here and doubles to maxBackoffMs. Default 200. */
  backoffMs?: number;
  maxBackoffMs?: number;
  log?: (line: string) => void;
}

interface ListResult<T> { metadata?: { resourceVersion?: string }; items?: T[] }

export function objectKey(o: KubernetesObject): string {
  return o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : `${o.metadata?.name}`;
}

export class Informer<T extends KubernetesObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers: ((e: InformerEvent<T>) => void)[] = [];
  private resourceVersion = '';
  private stopped = false;
  private abort: AbortController | undefined;
  private isSynced = false;
  private syncWaiters: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly kube: Kube, private readonly opts: InformerOptions) {}

  on(handler: (e: InformerEvent<T>) => void): this {
    this.handlers.push(handler);
    return this;
  }

  list(): T[] { return [...this.store.values()]; }
  get(key: string): T | undefined { return this.store.get(key); }
  get synced(): boolean { return this.isSynced; }

  /** Starts listing and watching; resolves after the first successful list. */
  start(): Promise<void> {
    void this.loop(true);
    return this.waitForSync();
  }

  waitForSync(): Promise<void> {
    if (this.isSynced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort?.abort();
  }

  private emit(e: InformerEvent<T>): void {
    for (const h of this.handlers) {
      try { h(e); } catch (err) { this.opts.log?.(`informer ${this.opts.path}: handler failed: ${(err as Error).stack ?? err}`); }
    }
  }

  private async relist(): Promise<void> {
    const list = await this.kube.rest.get<ListResult<T>>(this.opts.path, {
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
    });
    const seen = new Set<string>();
    for (const item of list.items ?? []) {
      const key = objectKey(item);
      seen.add(key);
      const old = this.store.get(key);
      this.store.set(key, item);
      if (!old) this.emit({ type: 'add', object: item });
      else if (old.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.emit({ type: 'update', object: item, old });
    }
    for (const [key, old] of [...this.store]) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.emit({ type: 'delete', object: old });
      }
    }
    this.resourceVersion = list.metadata?.resourceVersion ?? '';
    if (!this.isSynced) {
      this.isSynced = true;
      this.emit({ type: 'synced' });
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  private async loop(needList: boolean): Promise<void> {
    let backoff = this.opts.backoffMs ?? 200;
    const maxBackoff = this.opts.maxBackoffMs ?? 5000;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        const outcome = await this.watchOnce();
        backoff = this.opts.backoffMs ?? 200;
        if (outcome === 'gone') needList = true;
        // 'closed': resume from the last resourceVersion at once.
      } catch (err) {
        if (this.stopped) return;
        if (isKubeApiError(err, 410)) needList = true;
        this.opts.log?.(`informer ${this.opts.path}: ${(err as Error).message}; retrying in ${backoff} ms`);
        await new Promise<void>((r) => { this.timer = setTimeout(r, backoff); });
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  }

  private watchOnce(): Promise<'closed' | 'gone'> {
    return new Promise((resolve, reject) => {
      let outcome: 'closed' | 'gone' = 'closed';
      let received = false;
      const started = Date.now();
      this.kube.watch
        .watch(
          this.opts.path,
          {
            resourceVersion: this.resourceVersion || undefined,
            allowWatchBookmarks: true,
            labelSelector: this.opts.labelSelector,
            fieldSelector: this.opts.fieldSelector,
            timeoutSeconds: 300,
          },
          (phase: string, obj: T & { code?: number }) => {
            received = true;
            if (phase === 'ERROR') {
              if (obj?.code === 410) outcome = 'gone';
              this.abort?.abort();
              return;
            }
            const rv = obj?.metadata?.resourceVersion;
            if (rv) this.resourceVersion = rv;
            if (phase === 'BOOKMARK') return;
            const key = objectKey(obj);
            const old = this.store.get(key);
            if (phase === 'DELETED') {
              this.store.delete(key);
              this.emit({ type: 'delete', object: obj });
            } else {
              this.store.set(key, obj);
              if (old) this.emit({ type: 'update', object: obj, old });
              else this.emit({ type: 'add', object: obj });
            }
          },
          (err: unknown) => {
            if (this.stopped) return resolve('closed');
            const e = err as { statusCode?: number; name?: string } | null;
            if (e && e.statusCode === 410) return resolve('gone');
            if (e && e.name !== 'AbortError') return reject(err);
            // A watch that closes at once without events is treated as a failure (back off).
            if (!received && Date.now() - started < 100 && outcome === 'closed') return reject(new Error('watch closed immediately'));
            resolve(outcome);
          },
        )
        .then((ac) => { this.abort = ac; if (this.stopped) ac.abort(); })
        .catch(reject);
    });
  }
}
