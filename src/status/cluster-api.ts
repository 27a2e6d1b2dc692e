/**
 * Reaching the cluster API for `status` and `reset`: first the kubeconfig `create cluster` wrote
 * (bmlb-workspace/NAME/NAME-kubeconfig, through the controlPlaneVIP), then the one given with
 * --kubeconfig or the cluster file's kubeconfigPath (often straight to an API server). The first
 * that answers GET /readyz wins; every attempt is kept so an error can name them all.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterConfig } from '../config/model.js';
import { UserError } from '../errors.js';
import { type Kube, loadKube } from '../kube/kube-client.js';

export interface KubeconfigCandidate {
  path: string;
  /** `vip`: the kubeconfig create cluster wrote; `given`: flag or cluster file. */
  via: 'vip' | 'given';
}

/** Candidates in order of preference, without duplicates or missing files. Pure apart from existsSync. */
export function kubeconfigCandidates(config: ClusterConfig, workspaceDir: string, flag?: string, exists: (p: string) => boolean = existsSync): KubeconfigCandidate[] {
  const out: KubeconfigCandidate[] = [];
  const add = (path: string | undefined, via: KubeconfigCandidate['via']): void => {
    if (path && exists(path) && !out.some((c) => c.path === path)) out.push({ path, via });
  };
  add(join(workspaceDir, `${config.name}-kubeconfig`), 'vip');
  add(flag, 'given');
  add(config.credentials.kubeconfigPath, 'given');
  return out;
}

export interface ApiAttempt {
  path: string;
  via: KubeconfigCandidate['via'];
  error: string;
}

export type ApiConnection = { ok: true; kube: Kube; kubeconfig: string; via: KubeconfigCandidate['via']; failed: ApiAttempt[] } | { ok: false; failed: ApiAttempt[] };

export async function connectApi(candidates: KubeconfigCandidate[], timeoutMs = 5000): Promise<ApiConnection> {
  const failed: ApiAttempt[] = [];
  for (const c of candidates) {
    try {
      const kube = loadKube({ kubeconfigPath: c.path, timeoutMs });
      await kube.rest.request('GET', '/readyz', { timeoutMs });
      return { ok: true, kube, kubeconfig: c.path, via: c.via, failed };
    } catch (e) {
      failed.push({ path: c.path, via: c.via, error: e instanceof Error ? e.message : String(e) });
    }
  }
  return { ok: false, failed };
}

export function apiUnreachableError(cluster: string, failed: ApiAttempt[]): UserError {
  const tried = failed.length ? failed.map((f) => `${f.path} (${f.error})`).join('; ') : 'no kubeconfig found';
  return new UserError(`the Kubernetes API of cluster ${cluster} is not reachable: ${tried}`, {
    code: 'ApiUnreachable',
    exitCode: 1,
    data: { attempts: failed },
    suggestions: [
      `Run \`bmlb create cluster -c ${cluster}\` first (it writes bmlb-workspace/${cluster}/${cluster}-kubeconfig), or pass --kubeconfig PATH.`,
      'Check that the control-plane VIP answers (it is held by keepalived on an LB node) and that the API servers run.',
    ],
  });
}
