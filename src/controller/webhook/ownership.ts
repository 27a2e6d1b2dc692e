/**
 * Who owns bmlb's generated objects: the record the installer writes at `create cluster` (and
 * `update cluster`) in ConfigMap bmlb-system/bmlb-owner, read by the controller's admission
 * webhook and config guard. Pure: building and reading the ConfigMap.
 */
import { NAMES } from '../../config/model.js';

export const OWNER_CONFIGMAP = 'bmlb-owner';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'bmlb';

export interface OwnerRecord {
  clusterName: string;
  /** Absolute path of the cluster file on the admin workstation that created the cluster. */
  clusterFile: string;
  /** The Kubernetes username the installer authenticated as (SelfSubjectReview). */
  installerUsername: string;
}

/** The controller's own identity (its ServiceAccount). */
export const CONTROLLER_USERNAME = `system:serviceaccount:${NAMES.namespace}:${NAMES.controllerServiceAccount}`;

export function ownerConfigMap(r: OwnerRecord, namespace: string = NAMES.namespace) {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: OWNER_CONFIGMAP,
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, 'app.kubernetes.io/part-of': 'bmlb' },
    },
    data: { clusterName: r.clusterName, clusterFile: r.clusterFile, installerUsername: r.installerUsername },
  };
}

/** Reads the record back; undefined when absent or incomplete. */
export function parseOwnerRecord(cm: { data?: Record<string, string> | null } | undefined): OwnerRecord | undefined {
  const d = cm?.data ?? undefined;
  if (!d || !d.clusterName || !d.installerUsername) return undefined;
  return { clusterName: d.clusterName, clusterFile: d.clusterFile ?? '', installerUsername: d.installerUsername };
}
