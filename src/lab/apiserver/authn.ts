/**
 * Bearer-token authentication: the config's static users plus ServiceAccount tokens minted by
 * TokenRequest (opaque random tokens, kept in memory with their expiry).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiServerUser } from './config.js';
import type { UserInfo } from './rbac.js';

export interface MintedToken {
  token: string;
  user: UserInfo;
  expiresAt: Date;
  audiences: string[];
}

export type AuthResult = { ok: true; user: UserInfo } | { ok: false; anonymous: true } | { ok: false; anonymous: false };

export function serviceAccountUser(namespace: string, name: string, uid?: string): UserInfo {
  return {
    username: `system:serviceaccount:${namespace}:${name}`,
    ...(uid ? { uid } : {}),
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  };
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class TokenAuthenticator {
  private readonly minted = new Map<string, MintedToken>();

  constructor(private readonly users: readonly ApiServerUser[], private readonly now: () => Date = () => new Date()) {}

  authenticate(authorization: string | undefined): AuthResult {
    if (!authorization) return { ok: false, anonymous: true };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) return { ok: false, anonymous: false };
    const token = m[1]!;
    for (const u of this.users) {
      if (sameToken(u.token, token)) {
        const groups = [...(u.groups ?? [])];
        if (!groups.includes('system:authenticated')) groups.push('system:authenticated');
        return { ok: true, user: { username: u.user, ...(u.uid ? { uid: u.uid } : {}), groups } };
      }
    }
    const t = this.minted.get(token);
    if (t && t.expiresAt > this.now()) return { ok: true, user: t.user };
    return { ok: false, anonymous: false };
  }

  mint(namespace: string, name: string, opts: { uid?: string; expirationSeconds?: number; audiences?: string[] } = {}): MintedToken {
    const token = `lab-sa.${randomBytes(24).toString('base64url')}`;
    const t: MintedToken = {
      token,
      user: serviceAccountUser(namespace, name, opts.uid),
      expiresAt: new Date(this.now().getTime() + (opts.expirationSeconds ?? 3600) * 1000),
      audiences: opts.audiences ?? ['https://kubernetes.default.svc'],
    };
    this.minted.set(token, t);
    return t;
  }

  revoke(token: string): void {
    this.minted.delete(token);
  }

  /** Forgets the tokens of a deleted ServiceAccount (bound tokens die with their account). */
  revokeServiceAccount(namespace: string, name: string): void {
    const username = `system:serviceaccount:${namespace}:${name}`;
    for (const [k, t] of this.minted) if (t.user.username === username) this.minted.delete(k);
  }
}
