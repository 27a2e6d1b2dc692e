/**
 * The installer's half of config ownership, shared by `create cluster` and `update cluster`:
 * find out who the installer is (SelfSubjectReview), keep or issue the webhook TLS Secret, write
 * the owner record the webhook reads, and render the in-cluster objects with the admission guards
 * (webhook caBundle, policy username) and the controller's certificate mount.
 */
import { execFile } from 'node:child_process';
import type { ClusterConfig } from '../../config/model.js';
import { NAMES } from '../../config/model.js';
import { UserError } from '../../errors.js';
import { type KubeRest, resourcePath } from '../../kube/kube-client.js';
import { OWNER_CONFIGMAP, ownerConfigMap, parseOwnerRecord, type OwnerRecord } from '../../controller/webhook/ownership.js';
import type { KubeObject } from '../../render/kube-object.js';
import { renderManifests } from '../../render/render-all.js';
import { loadTemplates, type Templates } from '../../render/templates.js';
import { type ApplyAction, applyObject } from '../create/cluster-objects.js';
import { type Runner, WEBHOOK_TLS_SECRET, issueWebhookTls, judgeStoredTls, webhookTlsSecret } from '../pki/webhook-tls.js';

export const runProgram: Runner = (argv) =>
  new Promise((resolve) => {
    execFile(argv[0] as string, argv.slice(1), { timeout: 60_000 }, (err, _stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 127) : 0;
      resolve({ code, stderr: String(stderr ?? '') + (err && code === 127 ? err.message : '') });
    });
  });

/** The username this kubeconfig authenticates as. */
export async function installerUsername(rest: KubeRest): Promise<string> {
  const r = await rest.create<{ status?: { userInfo?: { username?: string } } }>('/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
  });
  const u = r.status?.userInfo?.username;
  if (!u) throw new UserError('the API server did not say who this kubeconfig authenticates as (SelfSubjectReview)', {
    code: 'InstallerUnknown',
    exitCode: 3,
    suggestions: ['Use a kubeconfig with a user identity (Kubernetes 1.28+ answers SelfSubjectReview).'],
  });
  return u;
}

export async function readOwner(rest: KubeRest): Promise<OwnerRecord | undefined> {
  return parseOwnerRecord(await rest.find<{ data?: Record<string, string> }>(resourcePath('v1', 'configmaps', NAMES.namespace, OWNER_CONFIGMAP)));
}

/** Refuse to act as someone the webhook would refuse anyway, with the fix. */
export function checkInstaller(owner: OwnerRecord | undefined, username: string, clusterName: string): void {
  if (!owner || owner.installerUsername === username) return;
  throw new UserError(
    `cluster ${clusterName} was created by Kubernetes user "${owner.installerUsername}"; this kubeconfig is "${username}", which bmlb's admission guard refuses for bmlb-owned objects`,
    {
      code: 'InstallerIdentityMismatch',
      data: { recorded: owner.installerUsername, current: username },
      suggestions: [
        `Use the kubeconfig that create cluster wrote: bmlb-workspace/${clusterName}/${clusterName}-kubeconfig (or any kubeconfig of user "${owner.installerUsername}").`,
      ],
    },
  );
}

export interface Ownership {
  installerUsername: string;
  webhookCA: string;
  tls: 'kept' | 'issued';
  tlsReason?: string;
  owner: ApplyAction;
}

/** Needs the namespace to exist. Writes the TLS Secret (when new) and the owner record. */
export async function prepareOwnership(rest: KubeRest, config: ClusterConfig, now: Date, run: Runner = runProgram): Promise<Ownership> {
  const username = await installerUsername(rest);
  checkInstaller(await readOwner(rest), username, config.name);
  const secretPath = resourcePath('v1', 'secrets', NAMES.namespace, WEBHOOK_TLS_SECRET);
  const verdict = judgeStoredTls(await rest.find<{ data?: Record<string, string> }>(secretPath), now);
  let caPem: string;
  if (verdict.keep) caPem = verdict.tls.caPem;
  else {
    const tls = await issueWebhookTls(run, config.name);
    await applyObject(rest, webhookTlsSecret(tls));
    caPem = tls.caPem;
  }
  const owner = await applyObject(rest, ownerConfigMap({ clusterName: config.name, clusterFile: config.sourcePath, installerUsername: username }));
  return { installerUsername: username, webhookCA: caPem, tls: verdict.keep ? 'kept' : 'issued', ...(verdict.keep ? {} : { tlsReason: verdict.reason }), owner };
}

/** The in-cluster objects with the admission guards and the controller's certificate mount. */
export function guardedManifests(config: ClusterConfig, own: Pick<Ownership, 'installerUsername' | 'webhookCA'>, templates: Templates = loadTemplates()): { manifests: KubeObject[]; configMapData: string } {
  const r = renderManifests(
    { config, nodeFacts: {}, bmlbImage: `bmlb:${config.loadBalancer.bmlb.versions.bmlb}`, webhookCA: own.webhookCA, installerUsername: own.installerUsername },
    templates,
  );
  return { manifests: r.manifests, configMapData: r.configMapData };
}
