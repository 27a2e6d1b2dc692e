/** Defaults of every optional cluster-file setting bmlb fills in (one place; docs and schema read them). */
import type { BmlbSettings, ComponentVersions, SpeakerSettings, VrrpSettings } from './model.js';

/** Component versions installed when `spec.loadBalancer.bmlb.versions` does not say otherwise. */
export const DEFAULT_VERSIONS: Readonly<ComponentVersions> = Object.freeze({
  keepalived: '2.2.7',
  haproxy: '2.6.12',
  bmlb: '0.1.0',
});

export const DEFAULT_VRRP: Readonly<VrrpSettings> = Object.freeze({
  advertIntervalMs: 200,
  virtualRouterId: 51,
  unicast: false,
  garpMasterRepeat: 5,
});

export const DEFAULT_SPEAKER: Readonly<SpeakerSettings> = Object.freeze({
  heartbeatIntervalMs: 50,
  failureTimeoutMs: 250,
  garpRepeat: 3,
  memberPort: 7946,
  metricsPort: 7472,
});

export const DEFAULT_ADMISSION: BmlbSettings['admission'] = 'webhook';

export function defaultBmlbSettings(): BmlbSettings {
  return {
    vrrp: { ...DEFAULT_VRRP },
    speaker: { ...DEFAULT_SPEAKER },
    versions: { ...DEFAULT_VERSIONS },
    admission: DEFAULT_ADMISSION,
  };
}

export const DEFAULT_CONTROL_PLANE_LB_PORT = 443;
export const DEFAULT_LOGIN_USER = 'root';
export const DEFAULT_LB_TYPE = 'layer2';

/** A failure timeout shorter than this many heartbeats would declare live peers dead on one lost packet. */
export const MIN_HEARTBEATS_PER_TIMEOUT = 3;

/** The apiVersion of the Cluster and NodePool documents (GDCV). */
export const CLUSTER_API_VERSION = 'baremetal.cluster.gke.io/v1';
