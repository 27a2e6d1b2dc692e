/**
 * Test helper: a backend for a Service, the way a real cluster would have one — a small HTTP server
 * process on a node (answering with the node's name, and the client address it saw in the
 * `x-client-address` header) registered as an endpoint in an EndpointSlice of a selector-less
 * Service, as the endpoint controller would.
 *
 *   const b = await startBackend({
 *     spawn: (argv) => lab.nodeSpawn('lb1', argv, { stdio: ['ignore', 'pipe', 'pipe'] }),
 *     kubectl: (args, input) => lab.kubectl(args, { input }),      // runs in the lab's admin namespace
 *     node: { name: 'lb1', address: '198.51.100.21' }, port: 8080, service: { namespace: 'default', name: 'web', portName: 'http' } });
 *   t.after(() => b.stop());
 *
 * The EndpointSlice is written with kubectl through the function given, so a lab's API server is
 * reached from inside the lab (never from the host's own namespace).
 */
import type { ChildProcess } from 'node:child_process';
import type { V1EndpointSlice } from '@kubernetes/client-node';

export const BACKEND_MANAGED_BY = 'bmlb-test-backend';

/** The HTTP server the backend runs (`node -e`): argv[1] port, argv[2] node name, argv[3] host. */
const SERVER_SCRIPT = `
const http = require('node:http');
const [port, nodeName, host] = process.argv.slice(1);
const server = http.createServer((req, res) => {
  res.setHeader('x-client-address', req.socket.remoteAddress || '');
  res.setHeader('x-node-name', nodeName);
  res.end(nodeName + '\\n');
});
server.listen(Number(port), host || undefined, () => process.stdout.write('listening\\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

export interface BackendOptions {
  /** Starts argv inside the node's namespaces (lab nodeSpawn, or `ip netns exec NS …`). */
  spawn: (argv: string[]) => ChildProcess;
  /** Runs `kubectl ARGS` (stdin = input) as an identity allowed to write EndpointSlices. */
  kubectl: (args: string[], input?: string) => Promise<{ code: number; stdout: string; stderr: string }>;
  node: { name: string; address: string };
  port: number;
  /** The selector-less Service this backend serves; `portName` must equal the Service port's name ('' if unnamed). */
  service: { namespace: string; name: string; portName?: string };
  /** Report the endpoint ready (default true). */
  ready?: boolean;
}

export interface Backend {
  pid: number;
  sliceName: string;
  /** Flip the endpoint's ready condition. */
  setReady(ready: boolean): Promise<void>;
  /** Ends the process (by PID) and deletes its EndpointSlice. Idempotent. */
  stop(): Promise<void>;
}

export function backendSlice(opts: Pick<BackendOptions, 'node' | 'port' | 'service'>, ready: boolean): V1EndpointSlice {
  const name = `${opts.service.name}-${opts.node.name}-${opts.port}`.toLowerCase().slice(0, 63);
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: opts.service.namespace,
      labels: { 'kubernetes.io/service-name': opts.service.name, 'endpointslice.kubernetes.io/managed-by': BACKEND_MANAGED_BY },
    },
    addressType: opts.node.address.includes(':') ? 'IPv6' : 'IPv4',
    endpoints: [{ addresses: [opts.node.address], nodeName: opts.node.name, conditions: { ready, serving: ready, terminating: false } }],
    ports: [{ name: opts.service.portName ?? '', port: opts.port, protocol: 'TCP' }],
  };
}

export async function startBackend(opts: BackendOptions): Promise<Backend> {
  const child = opts.spawn([process.execPath, '-e', SERVER_SCRIPT, String(opts.port), opts.node.name, opts.node.address]);
  const pid = child.pid;
  if (!pid) throw new Error('backend process did not start');
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`backend on ${opts.node.name}:${opts.port} did not listen within 10 s: ${out}`)), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening')) { clearTimeout(t); resolve(); }
    });
    child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`backend exited (${code}) before listening: ${out}`)); });
  });
  const slice = backendSlice(opts, opts.ready ?? true);
  const name = slice.metadata!.name!;
  const ns = opts.service.namespace;
  const kubectl = async (args: string[], input?: string) => {
    const r = await opts.kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    return r;
  };
  const apply = (ready: boolean) => kubectl(['apply', '-f', '-'], JSON.stringify(backendSlice(opts, ready)));
  try {
    await apply(opts.ready ?? true);
  } catch (e) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    throw e;
  }
  let stopped: Promise<void> | undefined;
  return {
    pid,
    sliceName: name,
    async setReady(ready: boolean) {
      await apply(ready);
    },
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
          const t = setTimeout(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }, 2000);
          await exited;
          clearTimeout(t);
        }
        await kubectl(['delete', 'endpointslice', name, '-n', ns, '--ignore-not-found']).catch(() => undefined);
      })();
      return stopped;
    },
  };
}
