/**
 * Which files change on an LB node, in what order they are written, and how to undo it. Pure.
 *
 * Order: the sysctl file, then configs (keepalived.conf, haproxy.cfg), then the static pod
 * manifests LAST, so kubelet never starts a pod whose config is not there yet. Unchanged files
 * (same sha256 and mode) are not rewritten, so a rerun on a created cluster touches nothing and
 * the VIP does not move. Rollback undoes in reverse: manifests first (stops the new pods), then
 * configs; a file that existed is restored from its backup, a new one is removed.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';

export interface DesiredFile {
  path: string;
  mode: number;
  content: string;
}

export type RemoteFileState = { path: string; exists: false } | { path: string; exists: true; sha256: string; mode: number };

export type FileAction =
  | { action: 'unchanged'; path: string; mode: number; sha256: string }
  | { action: 'create'; path: string; mode: number; sha256: string; content: string }
  | { action: 'update'; path: string; mode: number; sha256: string; content: string; reason: 'content' | 'mode'; previousSha256: string };

export interface NodePlan {
  address: string;
  /** Write order. */
  files: FileAction[];
  changed: boolean;
}

export type RollbackStep = { kind: 'restore'; path: string; from: string } | { kind: 'remove'; path: string };

export const MANIFEST_PREFIX = '/etc/kubernetes/manifests/';
export const SYSCTL_FILE = '/etc/sysctl.d/60-bmlb.conf';
/** Backups of replaced files: BACKUP_ROOT/<run id>/<absolute path>. */
export const BACKUP_ROOT = '/var/lib/bmlb/backup';

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function rank(path: string): number {
  if (path === SYSCTL_FILE) return 0;
  if (path.startsWith(MANIFEST_PREFIX)) return 2;
  return 1;
}

/** Stable sort: sysctl file, configs, manifests (render order kept within each group). */
export function writeOrder<T extends { path: string }>(files: readonly T[]): T[] {
  return files.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f.path) - rank(b.f.path) || a.i - b.i).map((x) => x.f);
}

export function planNode(address: string, desired: readonly DesiredFile[], state: readonly RemoteFileState[]): NodePlan {
  const byPath = new Map(state.map((s) => [s.path, s]));
  const files = writeOrder(desired).map((d): FileAction => {
    const sha = sha256(d.content);
    const cur = byPath.get(d.path);
    if (!cur || !cur.exists) return { action: 'create', path: d.path, mode: d.mode, sha256: sha, content: d.content };
    if (cur.sha256 !== sha) return { action: 'update', path: d.path, mode: d.mode, sha256: sha, content: d.content, reason: 'content', previousSha256: cur.sha256 };
    if (cur.mode !== d.mode) return { action: 'update', path: d.path, mode: d.mode, sha256: sha, content: d.content, reason: 'mode', previousSha256: cur.sha256 };
    return { action: 'unchanged', path: d.path, mode: d.mode, sha256: sha };
  });
  return { address, files, changed: files.some((f) => f.action !== 'unchanged') };
}

export function backupPath(backupDir: string, path: string): string {
  return posix.join(backupDir, path);
}

/**
 * Undo the first `written` changed files of the plan (all of them when omitted), in reverse order.
 * A file being written when the failure happened counts as written (the rename may have happened).
 */
export function rollbackSteps(plan: NodePlan, backupDir: string, written?: number): RollbackStep[] {
  const changed = plan.files.filter((f) => f.action !== 'unchanged');
  const done = changed.slice(0, written ?? changed.length);
  return done.reverse().map((f): RollbackStep => (f.action === 'update' ? { kind: 'restore', path: f.path, from: backupPath(backupDir, f.path) } : { kind: 'remove', path: f.path }));
}

/** `/etc/sysctl.d/60-bmlb.conf`: what HAProxy needs to bind the VIP on nodes that do not hold it. */
export function sysctlFile(vipFamily: 4 | 6): { file: DesiredFile; values: Record<string, string> } {
  const values: Record<string, string> = vipFamily === 6 ? { 'net.ipv6.ip_nonlocal_bind': '1' } : { 'net.ipv4.ip_nonlocal_bind': '1' };
  const content =
    '# Written by bmlb (bundled load balancer): HAProxy binds the control-plane VIP on every LB node,\n' +
    '# also where keepalived does not hold it yet. Removed by `bmlb reset cluster`.\n' +
    Object.entries(values).map(([k, v]) => `${k} = ${v}\n`).join('');
  return { file: { path: SYSCTL_FILE, mode: 0o644, content }, values };
}

/** Parse the state lines printed by the remote `stat` script: `PATH absent` or `PATH MODE SHA256`. */
export function parseRemoteState(paths: readonly string[], text: string): RemoteFileState[] {
  const seen = new Map<string, RemoteFileState>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) (absent|([0-7]{3,4}) ([0-9a-f]{64}))$/.exec(line.trim());
    if (!m || !m[1]) continue;
    if (m[2] === 'absent') seen.set(m[1], { path: m[1], exists: false });
    else seen.set(m[1], { path: m[1], exists: true, mode: parseInt(m[3] ?? '0', 8), sha256: m[4] ?? '' });
  }
  return paths.map((p) => {
    const s = seen.get(p);
    if (!s) throw new Error(`no state reported for ${p}`);
    return s;
  });
}
