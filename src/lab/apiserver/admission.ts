/**
 * The admission step every write goes through. The server calls `validate` after defaults and
 * before storing; an implementation throws ApiError to refuse the write.
 */
import type { ResourceType } from './registry.js';
import type { UserInfo } from './rbac.js';
import type { KubeObject } from './store.js';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionRequest {
  operation: Operation;
  type: ResourceType;
  subresource?: string;
  namespace?: string;
  name: string;
  object?: KubeObject;
  oldObject?: KubeObject;
  user: UserInfo;
  dryRun: boolean;
  /** The options object (CreateOptions, UpdateOptions, DeleteOptions) as kube-apiserver sends it. */
  options?: Record<string, unknown>;
}

export interface Admission {
  validate(req: AdmissionRequest): Promise<void>;
}

export const admitAll: Admission = { validate: async () => {} };

/** Runs several admission steps in order; the first refusal wins. */
export function chainAdmission(...steps: Admission[]): Admission {
  return {
    async validate(req) {
      for (const s of steps) await s.validate(req);
    },
  };
}
