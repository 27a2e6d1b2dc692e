import { Flags } from '@oclif/core';
import { BmlbCommand } from '../commands-base.js';
import { loadKube } from '../kube/kube-client.js';
import { NAMES } from '../config/model.js';
import { DEFAULT_INGRESS_SERVICE, startController } from '../controller/reconciler.js';
import { startEndpoints } from '../controller/http-endpoints.js';

export interface ControllerResult {
  stopped: string;
  allocations: { pool: string; size: number; used: number; available: number }[];
}

export default class Controller extends BmlbCommand<ControllerResult> {
  static override description =
    'Run the in-cluster controller: allocate LoadBalancer Service IPs from the address pools (runs until SIGTERM)';

  static override examples = [
    '<%= config.bin %> controller',
    '<%= config.bin %> controller --kubeconfig bmlb-workspace/lab/lab-kubeconfig --metrics-port 0',
  ];

  static override flags = {
    namespace: Flags.string({ description: 'namespace of the configuration ConfigMap', default: NAMES.namespace }),
    'config-map': Flags.string({ description: 'name of the configuration ConfigMap', default: NAMES.configMap }),
    kubeconfig: Flags.string({ description: 'kubeconfig to use instead of the in-cluster ServiceAccount', helpValue: 'PATH' }),
    'metrics-port': Flags.integer({ description: 'port for /metrics, /healthz and /readyz (0 = pick one)', default: 7473, min: 0, max: 65535 }),
    'metrics-address': Flags.string({ description: 'address to serve /metrics, /healthz and /readyz on', default: '0.0.0.0' }),
    'ingress-service': Flags.string({ description: 'namespace/name of the Service that gets the ingressVIP', default: DEFAULT_INGRESS_SERVICE }),
  };

  async run(): Promise<ControllerResult> {
    const { flags } = await this.parse(Controller);
    const kube = loadKube(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : { inCluster: true });
    const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
    const ctl = await startController({
      kube,
      namespace: flags.namespace,
      configMap: flags['config-map'],
      ingressService: flags['ingress-service'],
      log,
    });
    const ep = await startEndpoints({ host: flags['metrics-address'], port: flags['metrics-port'], ready: ctl.ready, metrics: ctl.metrics });
    log(`controller: serving /metrics /healthz /readyz on ${flags['metrics-address']}:${ep.port}`);
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    log(`controller: ${signal}, stopping`);
    await ctl.stop();
    await ep.close();
    return { stopped: signal, allocations: ctl.usage() };
  }
}
