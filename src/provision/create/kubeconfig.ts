/**
 * The cluster kubeconfig bmlb writes (`bmlb-workspace/NAME/NAME-kubeconfig`): the given kubeconfig
 * with the current context's cluster server rewritten to https://controlPlaneVIP:port. Pure.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { UserError } from '../../errors.js';
import { parseIp } from '../../net/address.js';

export function vipServerUrl(vip: string, port: number): string {
  const host = parseIp(vip)?.family === 6 ? `[${vip}]` : vip;
  return `https://${host}:${port}`;
}

interface KubeconfigDoc {
  'current-context'?: string;
  contexts?: { name: string; context?: { cluster?: string } }[];
  clusters?: { name: string; cluster?: { server?: string; 'certificate-authority'?: string } }[];
  users?: { name: string; user?: Record<string, unknown> }[];
}

/** File references in a kubeconfig are relative to its directory; the copy lives elsewhere. */
function absolutise(doc: KubeconfigDoc, source: string): void {
  const base = dirname(source);
  const abs = (p: unknown): unknown => (typeof p === 'string' && p !== '' && !isAbsolute(p) ? resolve(base, p) : p);
  for (const c of doc.clusters ?? []) if (c.cluster?.['certificate-authority']) c.cluster['certificate-authority'] = abs(c.cluster['certificate-authority']) as string;
  for (const u of doc.users ?? []) {
    if (!u.user) continue;
    for (const k of ['client-certificate', 'client-key', 'tokenFile']) if (k in u.user) u.user[k] = abs(u.user[k]);
  }
}

export function rewriteKubeconfigServer(text: string, server: string, source: string): string {
  let doc: KubeconfigDoc;
  try {
    doc = parse(text) as KubeconfigDoc;
  } catch (e) {
    throw new UserError(`kubeconfig ${source} is not valid YAML: ${(e as Error).message}`, { code: 'KubeconfigInvalid', suggestions: ['Pass a working kubeconfig with --kubeconfig or kubeconfigPath in the cluster file.'] });
  }
  const ctxName = doc?.['current-context'];
  const ctx = doc?.contexts?.find((c) => c.name === ctxName);
  const cluster = doc?.clusters?.find((c) => c.name === ctx?.context?.cluster);
  if (!cluster?.cluster) {
    throw new UserError(`kubeconfig ${source} has no cluster for its current context${ctxName ? ` ${ctxName}` : ''}`, {
      code: 'KubeconfigInvalid',
      suggestions: ['Set current-context in the kubeconfig to the cluster bmlb installs into.'],
    });
  }
  cluster.cluster.server = server;
  absolutise(doc, source);
  return stringify(doc);
}
