/**
 * The in-cluster half of `reset cluster`: delete what bmlb created in reverse apply order (known
 * names plus anything labelled app.kubernetes.io/managed-by=bmlb), the namespace last (waiting,
 * bounded, until it is gone), the LB node label, and bmlb's annotations on users' Services.
 * 404s are "already gone": a rerun deletes nothing and reports nothing.
 */
import { NAMES } from '../../config/model.js';
import { type KubeRest, isKubeApiError, resourcePath } from '../../kube/kube-client.js';
import { DELETE_ORDER, MANAGED_BY_SELECTOR, SERVICE_ANNOTATIONS, namesToDelete } from './reset-plan.js';

export interface ClusterObjectsResetResult {
  /** `Kind namespace/name` or `Kind name`, in deletion order. */
  deleted: string[];
  namespace: 'deleted' | 'absent' | 'still-terminating';
  unlabelled: string[];
  services: { ref: string; annotations: string[] }[];
  errors: { what: string; message: string }[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

interface Named {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

export async function resetClusterObjects(rest: KubeRest, opts: { waitMs: number; pollMs?: number; onProgress?: (m: string) => void }): Promise<ClusterObjectsResetResult> {
  const out: ClusterObjectsResetResult = { deleted: [], namespace: 'absent', unlabelled: [], services: [], errors: [] };
  const ns = NAMES.namespace;
  const nsExists = (await rest.find(resourcePath('v1', 'namespaces', undefined, ns))) !== undefined;

  for (const k of DELETE_ORDER) {
    if (k.namespaced && !nsExists) continue;
    const namespace = k.namespaced ? ns : undefined;
    let labelled: string[] = [];
    try {
      const list = await rest.get<{ items: Named[] }>(resourcePath(k.apiVersion, k.plural, namespace), { labelSelector: MANAGED_BY_SELECTOR });
      labelled = list.items.map((i) => i.metadata.name);
    } catch (e) {
      if (!isKubeApiError(e, 404)) {
        out.errors.push({ what: `list ${k.kind}`, message: msg(e) });
        continue;
      }
      // The API does not serve this kind (e.g. no ValidatingAdmissionPolicy): nothing of it to delete.
      continue;
    }
    for (const name of namesToDelete(k, labelled)) {
      const ref = `${k.kind} ${namespace ? `${namespace}/` : ''}${name}`;
      try {
        if (await rest.delete(resourcePath(k.apiVersion, k.plural, namespace, name), { propagationPolicy: 'Background' })) {
          out.deleted.push(ref);
          opts.onProgress?.(`deleted ${ref}`);
        }
      } catch (e) {
        out.errors.push({ what: `delete ${ref}`, message: msg(e) });
      }
    }
  }

  if (nsExists) {
    try {
      await rest.delete(resourcePath('v1', 'namespaces', undefined, ns));
      out.deleted.push(`Namespace ${ns}`);
      opts.onProgress?.(`deleting Namespace ${ns}`);
      const t0 = Date.now();
      out.namespace = 'still-terminating';
      while (Date.now() - t0 <= opts.waitMs) {
        if ((await rest.find(resourcePath('v1', 'namespaces', undefined, ns))) === undefined) {
          out.namespace = 'deleted';
          break;
        }
        await sleep(opts.pollMs ?? 500);
      }
      if (out.namespace !== 'deleted') out.errors.push({ what: `delete Namespace ${ns}`, message: `still terminating after ${Math.round(opts.waitMs / 1000)} s` });
    } catch (e) {
      out.errors.push({ what: `delete Namespace ${ns}`, message: msg(e) });
    }
  }

  try {
    const nodes = await rest.get<{ items: Named[] }>(resourcePath('v1', 'nodes'), { labelSelector: NAMES.lbNodeLabel });
    for (const n of nodes.items) {
      try {
        await rest.patch(resourcePath('v1', 'nodes', undefined, n.metadata.name), { metadata: { labels: { [NAMES.lbNodeLabel]: null } } }, 'merge');
        out.unlabelled.push(n.metadata.name);
        opts.onProgress?.(`removed label ${NAMES.lbNodeLabel} from Node ${n.metadata.name}`);
      } catch (e) {
        out.errors.push({ what: `unlabel Node ${n.metadata.name}`, message: msg(e) });
      }
    }
  } catch (e) {
    out.errors.push({ what: 'list Nodes', message: msg(e) });
  }

  try {
    const svcs = await rest.get<{ items: Named[] }>(resourcePath('v1', 'services'));
    for (const s of svcs.items) {
      const present = SERVICE_ANNOTATIONS.filter((a) => s.metadata.annotations?.[a] !== undefined);
      if (!present.length) continue;
      const ref = `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
      try {
        await rest.patch(resourcePath('v1', 'services', s.metadata.namespace ?? 'default', s.metadata.name), { metadata: { annotations: Object.fromEntries(present.map((a) => [a, null])) } }, 'merge');
        out.services.push({ ref, annotations: present });
      } catch (e) {
        out.errors.push({ what: `remove annotations from Service ${ref}`, message: msg(e) });
      }
    }
  } catch (e) {
    out.errors.push({ what: 'list Services', message: msg(e) });
  }
  return out;
}
