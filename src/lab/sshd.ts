/**
 * SSH for the lab: the lab's client key (the only key the nodes accept), one host key per node,
 * a known_hosts with every node, and a real OpenSSH server per node started inside the node's
 * namespaces.
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { UserError } from '../errors.js';
import type { LabIo, ProcessIdentity } from './lab-io.js';
import { mustRun } from './lab-io.js';
import type { LabLayout, LabNodeLayout } from './lab-layout.js';
import { renderKnownHosts, renderSshdConfig, sshdFiles } from './lab-files.js';

export const SSHD = '/usr/sbin/sshd';

async function keygen(io: LabIo, file: string, comment: string): Promise<string> {
  rmSync(file, { force: true });
  rmSync(`${file}.pub`, { force: true });
  await mustRun(io, ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], `generating ${file}`);
  return readFileSync(`${file}.pub`, 'utf8');
}

export async function createLabSshKey(io: LabIo, layout: LabLayout): Promise<void> {
  const p = layout.paths;
  mkdirSync(p.sshDir, { recursive: true, mode: 0o700 });
  const pub = await keygen(io, p.sshKey, `bmlb-lab-${layout.name}`);
  writeFileSync(p.authorizedKeys, pub, { mode: 0o600 });
}

/** Host key and sshd config of a node; returns its public host key. */
export async function prepareNodeSshd(io: LabIo, layout: LabLayout, node: LabNodeLayout): Promise<string> {
  const f = sshdFiles(layout, node);
  writeFileSync(f.config, renderSshdConfig(layout, node), { mode: 0o600 });
  return keygen(io, f.hostKey, `${node.name}`);
}

export function writeKnownHosts(layout: LabLayout, entries: { node: LabNodeLayout; publicKey: string }[]): void {
  writeFileSync(layout.paths.knownHosts, renderKnownHosts(entries), { mode: 0o644 });
}

/** True when something in the node's network namespace listens on TCP port `port` (via /proc). */
export function listensOn(holderPid: number, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${holderPid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A') return true;
    }
  }
  return false;
}

export async function startNodeSshd(io: LabIo, layout: LabLayout, node: LabNodeLayout, holder: ProcessIdentity): Promise<ProcessIdentity> {
  const f = sshdFiles(layout, node);
  const enter = ['nsenter', '--target', String(holder.pid), '--net', '--mount', '--uts', '--'];
  await mustRun(io, [...enter, SSHD, '-t', '-f', f.config], `checking the sshd config of ${node.name}`);
  const sshd = await io.startDaemon([...enter, SSHD, '-D', '-e', '-f', f.config],
    { logFile: f.log },
  );
  for (let waited = 0; waited < 10_000; waited += 20) {
    if (listensOn(holder.pid, 22)) return sshd;
    if (io.startTimeOf(sshd.pid) !== sshd.startTime) break;
    await io.sleep(20);
  }
  const log = existsSync(f.log) ? readFileSync(f.log, 'utf8').trim().split('\n').slice(-5).join(' | ') : '';
  throw new UserError(`lab node ${node.name}: sshd did not start listening on port 22${log ? `: ${log}` : ''}`, {
    code: 'LabNodeFailed',
    suggestions: [`Read ${f.log}.`],
  });
}
