/**
 * The controller's HTTP endpoints: `/healthz` (process up), `/readyz` (configuration loaded and the
 * first pass over the Services done), `/metrics` (Prometheus text).
 */
import { createServer, type Server } from 'node:http';
import { UserError } from '../errors.js';

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
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    throw new UserError(`cannot listen on ${opts.host}:${opts.port} for metrics and health: ${(e as Error).message}`, {
      code: 'MetricsPortUnavailable',
      suggestions: [`Free port ${opts.port} or pass another --metrics-port.`],
      cause: e,
    });
  }
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
