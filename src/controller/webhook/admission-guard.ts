/**
 * The webhook as the controller runs it: the owner record (ConfigMap bmlb-owner) kept by an
 * informer, and the HTTPS server answering with decideAdmission. Every replica serves it (no
 * leader election: the API server may call any ready endpoint).
 */
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import { Informer } from '../../kube/informer.js';
import { type Kube, resourcePath } from '../../kube/kube-client.js';
import { OWNER_CONFIGMAP, parseOwnerRecord } from './ownership.js';
import { startWebhookServer } from './webhook-server.js';

export interface AdmissionGuardOptions {
  kube: Kube;
  namespace: string;
  certDir: string;
  host: string;
  port: number;
  log?: (line: string) => void;
}

export interface AdmissionGuard {
  port: number;
  ready(): boolean;
  metrics(): string;
  close(): Promise<void>;
}

export async function startAdmissionGuard(opts: AdmissionGuardOptions): Promise<AdmissionGuard> {
  const log = opts.log ?? (() => {});
  const owners = new Informer<V1ConfigMap & KubernetesObject>(opts.kube, {
    path: resourcePath('v1', 'configmaps', opts.namespace),
    fieldSelector: `metadata.name=${OWNER_CONFIGMAP}`,
    log,
  });
  // Serve at once (a missing record only means: nobody but the controller may write); the
  // record arrives with the informer.
  void owners.start();
  const server = await startWebhookServer({
    host: opts.host,
    port: opts.port,
    certDir: opts.certDir,
    log,
    policy: () => ({ namespace: opts.namespace, owner: parseOwnerRecord(owners.get(`${opts.namespace}/${OWNER_CONFIGMAP}`)) }),
    onDecision: (d, user, what) => {
      if (!d.allowed) log(`webhook: refused ${what} by ${user || 'anonymous'}`);
    },
  });
  log(`webhook: serving admission reviews on ${opts.host}:${server.port} (certificates from ${opts.certDir})`);
  return {
    port: server.port,
    ready: () => owners.synced,
    metrics: () => {
      const c = server.counts();
      return (
        '# HELP bmlb_webhook_admission_reviews_total Admission reviews answered by the config guard webhook.\n' +
        '# TYPE bmlb_webhook_admission_reviews_total counter\n' +
        `bmlb_webhook_admission_reviews_total{allowed="true"} ${c.allowed}\n` +
        `bmlb_webhook_admission_reviews_total{allowed="false"} ${c.denied}\n`
      );
    },
    close: async () => {
      owners.stop();
      await server.close();
    },
  };
}
