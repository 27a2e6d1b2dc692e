/**
 * The controller's HTTP endpoints: `/healthz` (process up), `/readyz` (configuration loaded and the
 * first pass over the Services done), `/metrics` (Prometheus text).
 */
import { createServer, type Server } from 'node:http';
import { UserError } from '../errors.js';
import { listenOrFail } from '../server-listen.js';

export interface EndpointsOptions {
  host: string;
  port: number;
  ready: () => boolean;
  metrics: () => string;
}

export async function startEndpoints(opts: EndpointsOptions): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = opts.ready();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n');
    } else if (path === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(opts.metrics());
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });
  await listenOrFail(server, opts.host, opts.port, { code: 'MetricsPortUnavailable', purpose: 'metrics and health', flag: '--metrics-port' });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
