/**
 * The lab API server's config file (written by the lab): listen address, TLS files, bearer-token
 * users, the Service CIDR(s) and the NodePort range.
 */
import { readFile } from 'node:fs/promises';
import { UserError } from '../../errors.js';
import { parseCidr, type IpRange } from '../../net/range.js';

export interface ApiServerUser {
  token: string;
  user: string;
  groups?: string[];
  uid?: string;
}

export interface ApiServerConfig {
  listen: { host: string; port: number };
  tls: { certFile: string; keyFile: string; caFile?: string };
  users: ApiServerUser[];
  /** One CIDR, or two (IPv4 and IPv6) separated by a comma for dual stack. */
  serviceCIDR: string;
  /** `first-last`, e.g. `30000-32767`. */
  nodePortRange: string;
  logFile?: string;
  /** Watch history length (changes kept for resuming watches); default 2000. */
  watchHistory?: number;
  /** Seconds between watch BOOKMARK events when a client allows them; default 10. */
  bookmarkIntervalSeconds?: number;
}

export interface NetworkSettings {
  serviceRanges: IpRange[];
  nodePorts: { first: number; last: number };
}

function invalid(field: string, message: string, file?: string): UserError {
  return new UserError(`lab API server config${file ? ` ${file}` : ''}: ${field}: ${message}`, {
    code: 'LabApiConfigInvalid',
    suggestions: ['Fix the field in the API server config file (the lab writes it as apiserver.json), or recreate the lab with `bmlb lab up`.'],
  });
}

export function parseNetworkSettings(c: Pick<ApiServerConfig, 'serviceCIDR' | 'nodePortRange'>, file?: string): NetworkSettings {
  const serviceRanges: IpRange[] = [];
  for (const part of String(c.serviceCIDR ?? '').split(',').map((s) => s.trim())) {
    const r = parseCidr(part);
    if (!r.ok) throw invalid('serviceCIDR', r.reason, file);
    if (serviceRanges.some((x) => x.family === r.range.family)) throw invalid('serviceCIDR', `"${c.serviceCIDR}" has two CIDRs of one family`, file);
    serviceRanges.push(r.range);
  }
  const m = /^(\d+)-(\d+)$/.exec(String(c.nodePortRange ?? ''));
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (!m || first < 1 || last > 65535 || first > last) {
    throw invalid('nodePortRange', `"${c.nodePortRange}" must be first-last with 1 <= first <= last <= 65535`, file);
  }
  return { serviceRanges, nodePorts: { first, last } };
}

/** Validates a config object (already parsed JSON). */
export function validateConfig(raw: unknown, file?: string): ApiServerConfig {
  if (raw === null || typeof raw !== 'object') throw invalid('(root)', 'must be a JSON object', file);
  const c = raw as ApiServerConfig;
  if (!c.listen || typeof c.listen.host !== 'string' || !Number.isInteger(c.listen.port) || c.listen.port < 0 || c.listen.port > 65535) {
    throw invalid('listen', 'needs "host" (an address) and "port" (0-65535)', file);
  }
  if (!c.tls || typeof c.tls.certFile !== 'string' || typeof c.tls.keyFile !== 'string') {
    throw invalid('tls', 'needs "certFile" and "keyFile"', file);
  }
  if (!Array.isArray(c.users)) throw invalid('users', 'must be a list of {token, user, groups}', file);
  c.users.forEach((u, i) => {
    if (!u || typeof u.token !== 'string' || u.token.length < 8) throw invalid(`users[${i}].token`, 'must be a string of at least 8 characters', file);
    if (typeof u.user !== 'string' || !u.user) throw invalid(`users[${i}].user`, 'must be a non-empty string', file);
    if (u.groups !== undefined && (!Array.isArray(u.groups) || u.groups.some((g) => typeof g !== 'string'))) {
      throw invalid(`users[${i}].groups`, 'must be a list of strings', file);
    }
  });
  parseNetworkSettings(c, file);
  return c;
}

export async function loadConfigFile(path: string): Promise<ApiServerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read the lab API server config ${path}: ${(e as Error).message}`, {
      code: 'LabApiConfigMissing', suggestions: ['Pass the apiserver.json the lab wrote (under /var/lib/bmlb-lab/NAME/).'],
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw invalid('(root)', `not valid JSON: ${(e as Error).message}`, path);
  }
  return validateConfig(raw, path);
}
