/**
 * A throwaway L2 segment for the speaker's end-to-end tests: one namespace holding a bridge, and
 * one namespace per host with `eth0` on that bridge. Documentation addresses only; nothing is
 * added to the test runner's own namespace. `destroy()` removes everything (idempotent).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

export interface SegmentHost {
  /** Short name; the namespace is `${prefix}-${name}`. */
  name: string;
  ipv4: string;
  ipv6?: string;
}

export interface Segment {
  prefix: string;
  ns(host: string): string;
  /** Run a command in a host's namespace; returns stdout (throws on non-zero exit). */
  exec(host: string, cmd: string[], opts?: { allowFail?: boolean; timeoutMs?: number }): { code: number; stdout: string; stderr: string };
  /** Start a long-running process in a host's namespace (killed by PID in destroy()). */
  spawn(host: string, cmd: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  mac(host: string): string;
  destroy(): void;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function createSegment(prefix: string, hosts: SegmentHost[]): Segment {
  const segNs = `${prefix}-seg`;
  const created: string[] = [];
  const children: ChildProcess[] = [];
  const destroy = (): void => {
    for (const c of children) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try { process.kill(c.pid, 'SIGKILL'); } catch { /* already gone */ }
      }
    }
    for (const n of created.reverse()) {
      try { ip(['netns', 'del', n]); } catch { /* already gone */ }
    }
    created.length = 0;
  };
  try {
    ip(['netns', 'add', segNs]);
    created.push(segNs);
    ip(['-n', segNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', segNs, 'link', 'set', 'br0', 'up']);
    hosts.forEach((h, i) => {
      const ns = `${prefix}-${h.name}`;
      ip(['netns', 'add', ns]);
      created.push(ns);
      const port = `p${i}`;
      ip(['-n', segNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['-n', segNs, 'link', 'set', port, 'master', 'br0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', ns, 'addr', 'add', `${h.ipv4}/24`, 'dev', 'eth0']);
      if (h.ipv6) ip(['-n', ns, 'addr', 'add', `${h.ipv6}/64`, 'dev', 'eth0', 'nodad']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    });
  } catch (e) {
    destroy();
    throw e;
  }
  const nsOf = (host: string): string => `${prefix}-${host}`;
  return {
    prefix,
    ns: nsOf,
    exec(host, cmd, opts = {}) {
      try {
        const stdout = execFileSync('ip', ['netns', 'exec', nsOf(host), ...cmd], {
          encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 20_000,
        });
        return { code: 0, stdout, stderr: '' };
      } catch (e) {
        const err = e as { status?: number; stdout?: string; stderr?: string };
        if (!opts.allowFail) throw new Error(`${cmd.join(' ')} in ${nsOf(host)} failed (${err.status}): ${err.stderr ?? ''}`);
        return { code: err.status ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
      }
    },
    spawn(host, cmd, env) {
      const child = spawn('ip', ['netns', 'exec', nsOf(host), ...cmd], { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
      children.push(child);
      return child;
    },
    mac(host) {
      const out = execFileSync('ip', ['-n', nsOf(host), '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' });
      const parsed = JSON.parse(out) as { address: string }[];
      return parsed[0]?.address ?? '';
    },
    destroy,
  };
}

/** Replies arping got: the MACs that answered, in order (iputils arping output). */
export function arpingReplies(seg: Segment, host: string, ip: string, count = 3): string[] {
  const r = seg.exec(host, ['arping', '-c', String(count), '-w', String(count + 1), '-I', 'eth0', ip], { allowFail: true, timeoutMs: (count + 3) * 1000 });
  const macs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^Unicast reply from \S+ \[([0-9A-Fa-f:]{17})\]/.exec(line.trim());
    if (m?.[1]) macs.push(m[1].toLowerCase());
  }
  return macs;
}
