import { networkInterfaces } from 'node:os';
import { Flags } from '@oclif/core';
import { BmlbCommand } from '../commands-base.js';
import { NAMES } from '../config/model.js';
import { parseSpeakerConfig } from '../config/speaker-config.js';
import { UserError } from '../errors.js';
import { loadKube } from '../kube/kube-client.js';
import { openL2Announcer } from '../speaker/layer2/announcer.js';
import { loadPacketIo } from '../speaker/layer2/packet-socket.js';
import { startMembership } from '../speaker/membership.js';
import { runSpeaker } from '../speaker/speaker.js';

export interface SpeakerResult {
  stopped: string;
  node: string;
  announcedAtStop: string[];
  failovers: number;
}

export default class Speaker extends BmlbCommand<SpeakerResult> {
  static override description =
    'Run the in-cluster layer-2 speaker on an LB node: membership, per-IP election, ARP/NDP answers (runs until SIGTERM)';

  static override examples = [
    '<%= config.bin %> speaker --node-name lb1',
    '<%= config.bin %> speaker --node-name lb1 --kubeconfig bmlb-workspace/lab/lab-kubeconfig --interface eth0',
  ];

  static override flags = {
    'node-name': Flags.string({ description: 'this node\'s Kubernetes Node name (default: $NODE_NAME)', env: 'NODE_NAME' }),
    namespace: Flags.string({ description: 'namespace of the configuration ConfigMap and the membership Secret', default: NAMES.namespace }),
    'config-map': Flags.string({ description: 'name of the configuration ConfigMap', default: NAMES.configMap }),
    'member-secret': Flags.string({ description: 'name of the Secret holding the membership key', default: NAMES.memberSecret }),
    kubeconfig: Flags.string({ description: 'kubeconfig to use instead of the in-cluster ServiceAccount', helpValue: 'PATH' }),
    interface: Flags.string({ description: 'interface to answer ARP/NDP on; auto = the one carrying the node\'s InternalIP', default: 'auto', helpValue: 'auto|NAME' }),
    'metrics-port': Flags.integer({ description: 'port for /metrics, /healthz and /readyz (0 = pick one)', default: 7472, min: 0, max: 65535 }),
    'metrics-address': Flags.string({ description: 'address to serve /metrics, /healthz and /readyz on', default: '0.0.0.0' }),
  };

  async run(): Promise<SpeakerResult> {
    const { flags } = await this.parse(Speaker);
    const nodeName = flags['node-name'];
    if (!nodeName) {
      throw new UserError('the speaker needs its Node name', {
        code: 'NodeNameMissing',
        exitCode: 2,
        suggestions: ['Pass --node-name NAME, or set NODE_NAME (the DaemonSet sets it from spec.nodeName).'],
      });
    }
    const log = (line: string): void => { process.stderr.write(`${new Date().toISOString()} speaker ${nodeName}: ${line}\n`); };
    // Fail fast, before touching the API, when raw sockets cannot work here.
    const io = loadPacketIo();
    if (flags.interface !== 'auto') io.interfaceInfo(flags.interface);
    const kube = loadKube(flags.kubeconfig ? { kubeconfigPath: flags.kubeconfig } : { inCluster: true });
    const speaker = await runSpeaker(
      {
        nodeName,
        namespace: flags.namespace,
        configMap: flags['config-map'],
        memberSecret: flags['member-secret'],
        interfaceName: flags.interface,
        metricsPort: flags['metrics-port'],
        metricsHost: flags['metrics-address'],
      },
      {
        kube,
        openAnnouncer: (o) => openL2Announcer({ ...o, io }),
        startMembership,
        parseConfig: parseSpeakerConfig,
        interfaces: networkInterfaces,
        log,
      },
    );
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    const snap = speaker.snapshot();
    log(`${signal}: withdrawing ${snap.announced.length} IPs and leaving the membership`);
    await speaker.stop();
    return { stopped: signal, node: nodeName, announcedAtStop: snap.announced, failovers: snap.failovers };
  }
}
