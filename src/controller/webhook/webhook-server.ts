/**
 * The config guard webhook's HTTPS server (thin IO shell around decideAdmission): POST
 * AdmissionReview v1 at WEBHOOK_PATH. The serving certificate and key are read from a directory
 * (`tls.crt`, `tls.key`: the mounted Secret bmlb-webhook-tls) and re-read when they change, so a
 * renewed Secret needs no restart.
 */
import { createServer, type Server } from 'node:https';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import { WEBHOOK_PATH } from '../../render/layout.js';
import { admissionResponse, decideAdmission, parseAdmissionReview, type AdmissionDecision, type GuardPolicy } from './admission-decision.js';
import { listenOrFail } from '../../server-listen.js';

export interface WebhookServerOptions {
  host: string;
  port: number;
  /** Directory holding tls.crt and tls.key. */
  certDir: string;
  policy: () => GuardPolicy;
  /** Called for every decision (logging, metrics). */
  onDecision?: (d: AdmissionDecision, user: string, what: string) => void;
  /** How often to look for a renewed certificate, ms. Default 10 000. */
  reloadMs?: number;
  log?: (line: string) => void;
}

export interface WebhookServer {
  port: number;
  /** Decisions taken, by outcome. */
  counts(): { allowed: number; denied: number };
  close(): Promise<void>;
}

async function readPair(dir: string): Promise<{ cert: string; key: string }> {
  try {
    const [cert, key] = await Promise.all([readFile(join(dir, 'tls.crt'), 'utf8'), readFile(join(dir, 'tls.key'), 'utf8')]);
    return { cert, key };
  } catch (e) {
    throw new UserError(`cannot read the webhook serving certificate in ${dir}: ${(e as Error).message}`, {
      code: 'WebhookCertMissing',
      suggestions: ['Mount Secret bmlb-system/bmlb-webhook-tls there (rerun `bmlb create cluster`), or pass --webhook-cert-dir to a directory with tls.crt and tls.key.'],
    });
  }
}

const MAX_BODY = 3 * 1024 * 1024;

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  let pair = await readPair(opts.certDir);
  let allowed = 0;
  let denied = 0;
  const server: Server = createServer({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== WEBHOOK_PATH) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      const parsed = parseAdmissionReview(Buffer.concat(chunks).toString('utf8'));
      if (!parsed.ok) {
        res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`${parsed.error}\n`);
        return;
      }
      const r = parsed.request;
      const d = decideAdmission(r, opts.policy());
      if (d.allowed) allowed += 1;
      else denied += 1;
      opts.onDecision?.(d, r.userInfo?.username ?? '', `${r.operation ?? '?'} ${r.resource?.resource ?? '?'} ${r.namespace ?? ''}/${r.name ?? ''}`);
      const body = JSON.stringify(admissionResponse(r.uid, d));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
    });
  });
  await listenOrFail(server, opts.host, opts.port, { code: 'WebhookPortUnavailable', purpose: 'the admission webhook', flag: '--webhook-port' });
  const timer = setInterval(() => {
    readPair(opts.certDir).then(
      (next) => {
        if (next.cert === pair.cert && next.key === pair.key) return;
        server.setSecureContext({ cert: next.cert, key: next.key });
        pair = next;
        opts.log?.('webhook: serving certificate reloaded');
      },
      (e: unknown) => opts.log?.(`webhook: keeping the current certificate: ${(e as Error).message}`),
    );
  }, opts.reloadMs ?? 10_000);
  timer.unref();
  return {
    port: (server.address() as { port: number }).port,
    counts: () => ({ allowed, denied }),
    close: () =>
      new Promise<void>((r) => {
        clearInterval(timer);
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
