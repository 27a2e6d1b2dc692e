/**
 * The kube-proxy stand-in: watches Services and EndpointSlices and keeps the node's nftables table
 * equal to `renderRuleset` of them, applied atomically with `nft -f -`; removes the table on stop.
 */
import { spawn } from 'node:child_process';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { Kube } from '../../kube/kube-client.js';
import { Informer } from '../../kube/informer.js';
import { renderRuleset, renderTableRemoval, type ProxyNode } from './ruleset.js';

/** Runs `nft -f -` with the script on stdin. */
export function applyNft(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`nft -f failed (${code}): ${err.trim()}`))));
    child.stdin.end(script);
  });
}

export class ServiceProxy {
  private services?: Informer<V1Service>;
  private slices?: Informer<V1EndpointSlice>;
  private timer?: NodeJS.Timeout;
  private applied = '';
  private applying = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly kube: Kube,
    private readonly node: ProxyNode,
    private readonly log: (l: string) => void,
    private readonly apply: (script: string) => Promise<void> = applyNft,
  ) {}

  async start(): Promise<void> {
    this.services = new Informer<V1Service>(this.kube, { path: '/api/v1/services', log: this.log });
    this.slices = new Informer<V1EndpointSlice>(this.kube, { path: '/apis/discovery.k8s.io/v1/endpointslices', log: this.log });
    this.services.on(() => this.schedule());
    this.slices.on(() => this.schedule());
    await Promise.all([this.services.start(), this.slices.start()]);
    await this.sync();
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, 50);
  }

  private async sync(): Promise<void> {
    if (this.stopped || !this.services?.synced || !this.slices?.synced) return;
    if (this.applying) { this.again = true; return; }
    this.applying = true;
    try {
      do {
        this.again = false;
        const script = renderRuleset(this.services.list(), this.slices.list(), this.node);
        if (script === this.applied) continue;
        try {
          await this.apply(script);
          this.applied = script;
        } catch (e) {
          this.log(`service proxy: ${(e as Error).message}`);
          setTimeout(() => this.schedule(), 1000);
        }
      } while (this.again && !this.stopped);
    } finally {
      this.applying = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.services?.stop();
    this.slices?.stop();
    await this.apply(renderTableRemoval()).catch((e) => this.log(`service proxy: removing the table: ${(e as Error).message}`));
  }
}
