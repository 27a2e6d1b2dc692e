/** Shared bits of the lab API conformance tests: raw HTTPS requests and Status extraction. */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { TestApi } from '../../helpers/lab-api.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** One request with the given user's token (or none). */
export function raw(api: TestApi, method: string, path: string, opts: { user?: string | null; token?: string; body?: unknown; contentType?: string; accept?: string; headers?: Record<string, string | string[]> } = {}):
  Promise<RawResponse> {
  const token = opts.token ?? (opts.user === null ? undefined : api.tokenFor(opts.user ?? 'admin-user'));
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(`${api.url}${path}`, {
      method, ca: readFileSync(api.caFile),
      headers: {
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'Content-Type': opts.contentType ?? 'application/json' } : {}),
        Accept: opts.accept ?? 'application/json',
        ...(opts.headers ?? {}),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The Status body of a failed @kubernetes/client-node call. */
export function statusOf(e: unknown): { code: number; reason: string; message: string; details?: any; kind: string } {
  const err = e as { code?: number; body?: unknown };
  if (typeof err.code !== 'number') throw e;
  const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
  return body as never;
}

/** Awaits a promise expected to reject with an ApiException; returns its Status. */
export async function rejectsWithStatus(p: Promise<unknown>): Promise<ReturnType<typeof statusOf>> {
  try {
    await p;
  } catch (e) {
    return statusOf(e);
  }
  throw new Error('expected the call to fail');
}

export function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = async (): Promise<void> => {
      try {
        const v = await fn();
        if (v !== undefined && v !== false) return resolve(v as T);
      } catch { /* retry */ }
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(() => void tick(), 25);
    };
    void tick();
  });
}
