import { Flags } from '@oclif/core';
import { hostname } from 'node:os';
import { BmlbCommand } from '../commands-base.js';
import { UserError } from '../errors.js';
import { loadKube } from '../kube/kube-client.js';
import { NAMES } from '../config/model.js';
import { DEFAULT_INGRESS_SERVICE, startController, type ControllerHandle } from '../controller/reconciler.js';
import { startEndpoints } from '../controller/http-endpoints.js';
import { runLeaderElection } from '../controller/leader-election.js';
import type { PoolUsage } from '../controller/allocator.js';
import { type ConfigGuard, startConfigGuard } from '../controller/config-guard.js';
import { type AdmissionGuard, startAdmissionGuard } from '../controller/webhook/admission-guard.js';
import { newEventRecorder } from '../kube/event-recorder.js';
import { PORTS } from '../render/layout.js';

export interface ControllerResult {
  stopped: string;
  /** Pool usage at the time of stopping (empty when this replica was not leading). */
  allocations: PoolUsage[];
}

export default class Controller extends BmlbCommand<ControllerResult> {
  static override description =
    'Run the in-cluster controller: allocate LoadBalancer Service IPs from the address pools (runs until SIGTERM)';

  static override examples = [
    '<%= config.bin %> controller',
    '<%= config.bin %> controller --kubeconfig ~/.kube/config --metrics-port 0',
    '<%= config.bin %> controller --leader-elect   # with more than one replica',
  ];

  static override flags = {
    namespace: Flags.string({ description: 'namespace of the configuration ConfigMap (and of the leader Lease)', default: NAMES.namespace }),
    'config-map': Flags.string({ description: 'name of the configuration ConfigMap', default: NAMES.configMap }),
    kubeconfig: Flags.string({ description: 'kubeconfig to use instead of the in-cluster ServiceAccount', helpValue: 'PATH' }),
    'metrics-port': Flags.integer({ description: 'port for /metrics, /healthz and /readyz (0 = pick one)', default: 7473, min: 0, max: 65535 }),
    'metrics-address': Flags.string({ description: 'address to serve /metrics, /healthz and /readyz on', default: '0.0.0.0' }),
    'ingress-service': Flags.string({ description: 'namespace/name of the Service that gets the ingressVIP', default: DEFAULT_INGRESS_SERVICE }),
    'leader-elect': Flags.boolean({ description: 'take a Lease before allocating (needed when running more than one replica)', default: false }),
    'lease-name': Flags.string({ description: 'name of the leader Lease', default: 'bmlb-controller' }),
    'lease-duration': Flags.integer({ description: 'leader Lease duration in seconds', default: 15, min: 1 }),
    'webhook-cert-dir': Flags.string({ description: 'serve the config guard admission webhook with tls.crt/tls.key from this directory (absent = no webhook)', helpValue: 'DIR' }),
    'webhook-port': Flags.integer({ description: 'port of the admission webhook (0 = pick one)', default: PORTS.controllerWebhook, min: 0, max: 65535 }),
    'webhook-address': Flags.string({ description: 'address to serve the admission webhook on', default: '0.0.0.0' }),
    'config-guard': Flags.boolean({ description: 'restore the speaker ConfigMap when it drifts from the applied cluster file', default: true, allowNo: true }),
  };

  async run(): Promise<ControllerResult> {
    const { flags } = await this.parse(Controller);
    if (!flags.kubeconfig && !process.env.KUBERNETES_SERVICE_HOST) {
      throw new UserError('not running in a pod (KUBERNETES_SERVICE_HOST is unset) and no --kubeconfig given', {
        code: 'NotInCluster',
        exitCode: 2,
        suggestions: ['Pass --kubeconfig PATH to run the controller outside the cluster.'],
      });
    }
    const kube = loadKube(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : { inCluster: true });
    const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
    const identity = `${process.env.POD_NAME ?? hostname()}_${process.pid}`;
    let ctl: ControllerHandle | undefined;
    let guard: ConfigGuard | undefined;
    let lastUsage: PoolUsage[] = [];
    // The webhook runs on every replica, before anything else: the API server may call any of them.
    const webhook: AdmissionGuard | undefined = flags['webhook-cert-dir']
      ? await startAdmissionGuard({ kube, namespace: flags.namespace, certDir: flags['webhook-cert-dir'], host: flags['webhook-address'], port: flags['webhook-port'], log })
      : undefined;
    const begin = async () => {
      ctl = await startController({ kube, namespace: flags.namespace, configMap: flags['config-map'], ingressService: flags['ingress-service'], log });
      if (flags['config-guard']) {
        guard = await startConfigGuard({ kube, namespace: flags.namespace, configMap: flags['config-map'], recorder: newEventRecorder(kube, 'bmlb-controller', undefined, log), log });
      }
    };
    const end = async () => {
      guard?.stop();
      guard = undefined;
      const c = ctl;
      ctl = undefined;
      if (c) {
        lastUsage = c.usage();
        await c.stop();
      }
    };
    const election = flags['leader-elect']
      ? runLeaderElection({
          kube,
          namespace: flags.namespace,
          name: flags['lease-name'],
          identity,
          leaseDurationMs: flags['lease-duration'] * 1000,
          onStartedLeading: begin,
          onStoppedLeading: end,
          log,
        })
      : undefined;
    if (!election) await begin();

    const leaderLine = () =>
      `# HELP bmlb_controller_leader 1 when this replica is allocating.\n# TYPE bmlb_controller_leader gauge\nbmlb_controller_leader ${ctl ? 1 : 0}\n`;
    const ep = await startEndpoints({
      host: flags['metrics-address'],
      port: flags['metrics-port'],
      // A standby replica is ready (it is doing what it should: waiting for the lease).
      ready: () => (ctl ? ctl.ready() : election !== undefined),
      metrics: () => (ctl ? ctl.metrics() : '') + (guard?.metrics() ?? '') + (webhook?.metrics() ?? '') + leaderLine(),
    });
    log(`controller: serving /metrics /healthz /readyz on ${flags['metrics-address']}:${ep.port}${election ? ` (leader election as ${identity})` : ''}`);
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    log(`controller: ${signal}, stopping`);
    if (ctl) lastUsage = ctl.usage();
    if (election) await election.stop();
    await end();
    await webhook?.close();
    await ep.close();
    return { stopped: signal, allocations: lastUsage };
  }
}
