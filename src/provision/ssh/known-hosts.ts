/**
 * OpenSSH known_hosts, pure: parse the format (plain and hashed `|1|salt|hash` host fields,
 * `[host]:port` for non-22 ports, comma lists, `*`/`?` wildcards, `!` negation, `@revoked`
 * markers), decide whether a presented host key is known, unknown, changed or revoked, and format
 * the line that records a newly accepted key. No file IO here (see host-key-verifier.ts).
 */
import { createHash, createHmac } from 'node:crypto';

export interface KnownHostEntry {
  /** The file this entry came from (for messages) and its 1-based line. */
  file: string;
  line: number;
  marker?: 'revoked' | 'cert-authority';
  /** Raw host field: comma-separated patterns, or one `|1|salt|hash` hashed name. */
  hosts: string;
  keyType: string;
  /** The public key blob (SSH wire format), base64 as written in the file. */
  keyBase64: string;
}

export interface ParsedKnownHosts {
  entries: KnownHostEntry[];
  /** Lines that could not be parsed (ignored, as OpenSSH does; reported in debug logs). */
  invalid: { file: string; line: number; reason: string }[];
}

export function parseKnownHosts(text: string, file: string): ParsedKnownHosts {
  const entries: KnownHostEntry[] = [];
  const invalid: ParsedKnownHosts['invalid'] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else {
        invalid.push({ file, line: lineNo, reason: `unknown marker ${m}` });
        return;
      }
    }
    const [hosts, keyType, keyBase64] = fields;
    if (!hosts || !keyType || !keyBase64) {
      invalid.push({ file, line: lineNo, reason: 'expected "hosts keytype key"' });
      return;
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(keyBase64)) {
      invalid.push({ file, line: lineNo, reason: 'key is not base64' });
      return;
    }
    entries.push({ file, line: lineNo, ...(marker ? { marker } : {}), hosts, keyType, keyBase64 });
  });
  return { entries, invalid };
}

/** The name OpenSSH looks up for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** OpenSSH-style fingerprint of a public key blob: `SHA256:` + unpadded base64 of its sha256. */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** The key type name inside an SSH public key blob (its first length-prefixed string). */
export function keyTypeOfBlob(keyBlob: Buffer): string | undefined {
  if (keyBlob.length < 4) return undefined;
  const len = keyBlob.readUInt32BE(0);
  if (len <= 0 || len > 64 || 4 + len > keyBlob.length) return undefined;
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

function wildcardMatch(pattern: string, name: string): boolean {
  // OpenSSH patterns: `*` any run, `?` any one character; case-insensitive hostnames.
  let re = '^';
  for (const ch of pattern.toLowerCase()) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(re + '$').test(name.toLowerCase());
}

function hashedMatch(field: string, name: string): boolean {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  const parts = field.split('|');
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2] ?? '', 'base64');
  const want = parts[3] ?? '';
  const got = createHmac('sha1', salt).update(name).digest('base64');
  return got === want;
}

/** Whether an entry's host field names this lookup name (a negated match excludes the entry). */
export function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|')) return hashedMatch(hosts, name);
  let matched = false;
  for (const pat of hosts.split(',')) {
    if (pat === '') continue;
    if (pat.startsWith('!')) {
      if (wildcardMatch(pat.slice(1), name)) return false;
    } else if (wildcardMatch(pat, name)) {
      matched = true;
    }
  }
  return matched;
}

/** RSA keys are stored as `ssh-rsa` whatever signature algorithm (rsa-sha2-256/512) was negotiated. */
export function canonicalKeyType(t: string): string {
  return t === 'rsa-sha2-256' || t === 'rsa-sha2-512' ? 'ssh-rsa' : t;
}

export type HostKeyVerdict =
  | { status: 'known'; entry: KnownHostEntry }
  | { status: 'unknown' }
  /** Same host known with a different key: always fatal. */
  | { status: 'changed'; expected: KnownHostEntry[] }
  | { status: 'revoked'; entry: KnownHostEntry };

/**
 * Decide on a presented key. `entries` in file order. A revoked key is refused; a key listed for
 * the host is accepted; a host listed with other keys of the same type, or only with keys of other
 * types, is "changed" (we prefer the known types when negotiating, so a different type means the
 * server lost the recorded key); otherwise unknown.
 */
export function verifyHostKey(entries: KnownHostEntry[], name: string, keyBlob: Buffer): HostKeyVerdict {
  const keyBase64 = keyBlob.toString('base64');
  const keyType = keyTypeOfBlob(keyBlob) ?? '';
  const revoked = entries.find((e) => e.marker === 'revoked' && e.keyBase64 === keyBase64);
  if (revoked) return { status: 'revoked', entry: revoked };
  const forHost = entries.filter((e) => e.marker === undefined && hostFieldMatches(e.hosts, name));
  const exact = forHost.find((e) => e.keyBase64 === keyBase64 && canonicalKeyType(e.keyType) === canonicalKeyType(keyType));
  if (exact) return { status: 'known', entry: exact };
  if (forHost.length > 0) return { status: 'changed', expected: forHost };
  return { status: 'unknown' };
}

/** Key types recorded for a host, in file order (used to prefer them when negotiating). */
export function knownKeyTypes(entries: KnownHostEntry[], name: string): string[] {
  const out: string[] = [];
  for (const e of entries) {
    if (e.marker !== undefined || !hostFieldMatches(e.hosts, name)) continue;
    const t = canonicalKeyType(e.keyType);
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

/** The negotiation algorithm names that produce a key of a known_hosts key type. */
export function hostKeyAlgorithmsFor(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

/** The line recorded for an accepted key (plain host name, like OpenSSH with HashKnownHosts no). */
export function formatKnownHostsLine(name: string, keyBlob: Buffer): string {
  const keyType = keyTypeOfBlob(keyBlob) ?? 'unknown';
  return `${name} ${keyType} ${keyBlob.toString('base64')}`;
}
