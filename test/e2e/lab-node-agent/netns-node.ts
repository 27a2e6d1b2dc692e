/**
 * A one-node test bed for the node agent without a whole lab: a network namespace `node` (eth0
 * 198.51.100.50/24) and a `client` namespace (198.51.100.60/24) joined by a veth pair; the lab API
 * server runs in the test process on 127.0.0.1 and is reached from inside `node` at
 * https://127.0.0.1:6444 through a Unix-socket relay (Unix sockets cross network namespaces). The
 * agent runs inside `node` with a private mount namespace whose /run is a tmpfs (as a lab node's
 * /run is its own). Everything is removed by close(): processes by PID, namespaces, temp files.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestApiServer, type TestApi } from '../../helpers/lab-api.js';
import { loadKube, type Kube } from '../../../src/kube/kube-client.js';

const run = promisify(execFile);
const repo = new URL('../../..', import.meta.url).pathname;

export const NODE_IP = '198.51.100.50';
export const CLIENT_IP = '198.51.100.60';

export interface NetnsNode {
  api: TestApi;
  kube: Kube;
  nodeNs: string;
  clientNs: string;
  nodeName: string;
  dir: string;
  manifestDir: string;
  stateDir: string;
  configPath: string;
  agent?: ChildProcess;
  startAgent(extra?: Record<string, unknown>): Promise<ChildProcess>;
  stopAgent(): Promise<number | null>;
  /** Waits until the agent has registered its Node (the agent starts slowly on a busy machine). */
  waitRegistered(): Promise<void>;
  /** kubectl (in this process's namespace) against the test API server on 127.0.0.1, as bmlb-installer. */
  kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Runs argv inside the node's network namespace. */
  inNode(argv: string[]): Promise<{ stdout: string; stderr: string }>;
  inClient(argv: string[]): Promise<{ stdout: string; stderr: string }>;
  spawnInNode(argv: string[]): ChildProcess;
  pids(): Promise<{ agent: number; children: { namespace: string; pod: string; container: string; pid: number }[] }>;
  agentLog(): Promise<string>;
  close(): Promise<void>;
}

export function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, stepMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (process.env.BMLB_TEST_DEBUG) process.stderr.write(`waitFor ${what}: ${JSON.stringify(v)?.slice(0, 80)} at ${Date.now() % 100000}\n`);
      if (v) return v;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export async function startNetnsNode(tag: string): Promise<NetnsNode> {
  const id = `${process.pid.toString(36)}${tag}`.slice(0, 8);
  const nodeNs = `bmlbt-na-${id}n`;
  const clientNs = `bmlbt-na-${id}c`;
  const nodeName = `na-${tag}`;
  const dir = await mkdtemp(join(tmpdir(), 'bmlbt-na-'));
  const manifestDir = join(dir, 'manifests');
  const stateDir = join(dir, 'state');
  const sock = join(dir, 'api.sock');
  const children: ChildProcess[] = [];
  let api: TestApi | undefined;
  let relay: net.Server | undefined;
  const created: string[] = [];

  const cleanup = async () => {
    for (const c of children.reverse()) {
      if (c.pid && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        try { process.kill(c.pid, 'SIGTERM'); } catch { /* gone */ }
        const t = setTimeout(() => { try { process.kill(c.pid!, 'SIGKILL'); } catch { /* gone */ } }, 5000);
        await exited;
        clearTimeout(t);
      }
    }
    // anything still running inside our namespaces was started by this test
    for (const ns of created) {
      const out = await run('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }));
      for (const p of out.stdout.split('\n').filter(Boolean)) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
    }
    for (const ns of created) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    relay?.close();
    await api?.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    api = await startTestApiServer({ serviceCIDR: '203.0.113.0/24,2001:db8:203::/112' });
    const apiUrl = new URL(api.url);
    relay = net.createServer((c) => {
      const up = net.connect(Number(apiUrl.port), '127.0.0.1');
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => relay!.listen(sock, r));

    for (const ns of [nodeNs, clientNs]) {
      await run('ip', ['netns', 'add', ns]);
      created.push(ns);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await run('ip', ['-n', nodeNs, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', clientNs]);
    await run('ip', ['-n', nodeNs, 'addr', 'add', `${NODE_IP}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', clientNs, 'addr', 'add', `${CLIENT_IP}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', nodeNs, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', clientNs, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['netns', 'exec', nodeNs, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    // the Service IPs the tests use are reached through the node, as ARP from a speaker would arrange
    await run('ip', ['-n', clientNs, 'route', 'add', '198.51.100.192/26', 'via', NODE_IP]);

    const relayScript = `const net=require('node:net');net.createServer(c=>{const u=net.connect(${JSON.stringify(sock)});c.pipe(u).pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())}).listen(6444,'127.0.0.1',()=>process.stdout.write('ok\\n'))`;
    const inner = spawn('ip', ['netns', 'exec', nodeNs, process.execPath, '-e', relayScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(inner);
    await new Promise<void>((resolve, reject) => {
      inner.stdout!.once('data', () => resolve());
      inner.once('exit', (c) => reject(new Error(`relay exited ${c}`)));
    });

    const kube = loadKube({ kubeconfigPath: await api.kubeconfigPath('bmlb-installer') });
    const configPath = join(dir, 'node-agent.json');
    const bed: NetnsNode = {
      api,
      kube,
      nodeNs,
      clientNs,
      nodeName,
      dir,
      manifestDir,
      stateDir,
      configPath,
      async startAgent(extra = {}) {
        await writeFile(configPath, JSON.stringify({
          nodeName,
          nodeIP: NODE_IP,
          role: 'lb',
          labels: { 'bmlb.io/test': tag },
          apiServer: 'https://127.0.0.1:6444',
          caFile: api!.caFile,
          token: api!.tokenFor('bmlb-installer'),
          manifestDir,
          stateDir,
          bmlbBin: join(repo, 'bin/run.js'),
          runControllers: true,
          logFile: join(dir, 'agent.log'),
          heartbeatSeconds: 2,
          ...extra,
        }));
        const script = 'mount -t tmpfs bmlbt-run /run && exec "$@"';
        const agent = spawn('ip', ['netns', 'exec', nodeNs, 'unshare', '--mount', '--propagation', 'private', '--',
          '/bin/sh', '-c', script, 'sh', process.execPath, '--import', 'tsx', join(repo, 'test/e2e/lab-node-agent/run-agent.ts'), '--config', configPath],
        { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
        children.push(agent);
        bed.agent = agent;
        return agent;
      },
      async waitRegistered() {
        await waitFor('node registered', async () => {
          const n = await kube.rest.find<{ status?: { conditions?: { type: string; status: string }[] } }>(`/api/v1/nodes/${nodeName}`);
          return n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        }, 60_000, 300);
      },
      async stopAgent() {
        const a = bed.agent;
        if (!a?.pid || a.exitCode !== null || a.signalCode !== null) return a?.exitCode ?? null;
        const exited = new Promise<number | null>((r) => a.once('exit', (code) => r(code)));
        process.kill(a.pid, 'SIGTERM');
        return await exited;
      },
      async kubectl(args, input) {
        const kubeconfig = await api!.kubeconfigPath('bmlb-installer');
        return await new Promise((resolve) => {
          const c = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
          let stdout = '';
          let stderr = '';
          c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
          c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
          c.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
          c.stdin.end(input ?? '');
        });
      },
      inNode: (argv) => run('ip', ['netns', 'exec', nodeNs, ...argv]),
      inClient: (argv) => run('ip', ['netns', 'exec', clientNs, ...argv]),
      spawnInNode(argv) {
        const c = spawn('ip', ['netns', 'exec', nodeNs, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
        children.push(c);
        return c;
      },
      async pids() {
        return JSON.parse(await readFile(join(stateDir, 'pids.json'), 'utf8'));
      },
      agentLog: () => readFile(join(dir, 'agent.log'), 'utf8').catch(() => ''),
      close: cleanup,
    };
    return bed;
  } catch (e) {
    await cleanup();
    throw e;
  }
}
