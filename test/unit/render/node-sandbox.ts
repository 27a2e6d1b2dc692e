/**
 * A throwaway "LB node" for checking rendered files with the real programs: a network namespace
 * with the node's interface and address, and a private mount namespace per command in which
 * /etc/bmlb is the sandbox's own directory and /run a fresh tmpfs (as the lab's nodes have).
 * Nothing is added to the host's namespaces or directories besides a temp dir and the netns.
 * Root only. Everything is removed by `close()`; processes are ended by their PID (group).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';

let counter = 0;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

// In the command's private mount namespace: a fresh /run (with /run/bmlb), /etc as an overlay
// (so /etc/bmlb can exist without touching the host's /etc), the sandbox's directory on /etc/bmlb.
const WRAP = [
  'mount -t tmpfs bmlbt-run /run',
  'mkdir -p /run/bmlb /run/.etc/upper /run/.etc/work',
  'mount -t overlay bmlbt-etc -o lowerdir=/etc,upperdir=/run/.etc/upper,workdir=/run/.etc/work /etc',
  'mkdir -p /etc/bmlb',
  'mount --bind "$0" /etc/bmlb',
  'exec "$@"',
].join(' && ');

export class NodeSandbox {
  readonly ns: string;
  readonly dir: string;
  readonly etcBmlb: string;
  private readonly procs: ChildProcess[] = [];

  /**
   * `iface` gets `addresses` (CIDR form). Without `segment` its veth peer stays in the namespace
   * (the link is up, nobody listens); with `segment` the peer is a port of that segment's bridge.
   */
  constructor(iface: string, addresses: string[], opts: { loopbackAddresses?: string[]; sysctls?: Record<string, string>; segment?: Segment } = {}) {
    counter += 1;
    this.ns = `bmlbt-rnd-${process.pid}-${counter}`;
    this.dir = mkdtempSync(join(tmpdir(), 'bmlbt-render-'));
    this.etcBmlb = join(this.dir, 'etc-bmlb');
    mkdirSync(this.etcBmlb);
    const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: 'pipe' }); };
    ip('netns', 'add', this.ns);
    try {
      ip('-n', this.ns, 'link', 'set', 'lo', 'up');
      const peer = `bmlbtp${counter % 100}`;
      if (opts.segment) {
        ip('-n', opts.segment.ns, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', iface, 'netns', this.ns);
        ip('-n', opts.segment.ns, 'link', 'set', peer, 'master', 'br0', 'up');
      } else {
        ip('-n', this.ns, 'link', 'add', iface, 'type', 'veth', 'peer', 'name', peer);
        ip('-n', this.ns, 'link', 'set', peer, 'up');
      }
      ip('-n', this.ns, 'link', 'set', iface, 'up');
      // Keep IPv6 addresses across a link flap, as a node's network configuration would restore
      // them (the kernel default drops them on link down and never adds them back).
      execFileSync('ip', ['netns', 'exec', this.ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${iface.replace(/\./g, '/')}.keep_addr_on_down=1`], { stdio: 'pipe' });
      for (const a of addresses) ip('-n', this.ns, 'addr', 'add', a, 'dev', iface, ...(a.includes(':') ? ['nodad'] : []));
      for (const a of opts.loopbackAddresses ?? []) ip('-n', this.ns, 'addr', 'add', a, 'dev', 'lo');
      for (const [k, v] of Object.entries(opts.sysctls ?? {})) {
        execFileSync('ip', ['netns', 'exec', this.ns, 'sysctl', '-q', '-w', `${k}=${v}`], { stdio: 'pipe' });
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Put a rendered file under the sandbox's /etc/bmlb (paths must start with /etc/bmlb/). */
  writeEtcBmlb(path: string, content: string): void {
    if (!path.startsWith('/etc/bmlb/')) throw new Error(`${path} is not under /etc/bmlb`);
    const p = join(this.etcBmlb, path.slice('/etc/bmlb/'.length));
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }

  private argv(cmd: string[]): string[] {
    return ['netns', 'exec', this.ns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', WRAP, this.etcBmlb, ...cmd];
  }

  /** Run a command on the node to completion. */
  run(cmd: string[], timeoutMs = 15000): RunResult {
    const r = spawnSync('ip', this.argv(cmd), { encoding: 'utf8', timeout: timeoutMs });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Start a long-running command on the node (own process group); output collected in `log()`. */
  start(cmd: string[]): { proc: ChildProcess; log: () => string; stop: () => void } {
    const proc = spawn('ip', this.argv(cmd), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
    this.procs.push(proc);
    const stop = (): void => {
      if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
        try { process.kill(-proc.pid, 'SIGTERM'); } catch { /* already gone */ }
      }
    };
    return { proc, log: () => out, stop };
  }

  /** Addresses on an interface of the node (`ip -j addr`). */
  addresses(iface: string): string[] {
    const out = execFileSync('ip', ['-n', this.ns, '-j', 'addr', 'show', 'dev', iface], { encoding: 'utf8' });
    const parsed = JSON.parse(out) as { addr_info?: { local: string; prefixlen: number }[] }[];
    return parsed.flatMap((l) => (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  }

  async close(): Promise<void> {
    for (const p of this.procs) {
      if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
        try { process.kill(-p.pid, 'SIGTERM'); } catch { /* gone */ }
        const exited = await new Promise<boolean>((res) => {
          const t = setTimeout(() => res(false), 3000);
          p.once('exit', () => { clearTimeout(t); res(true); });
        });
        if (!exited) { try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } }
      }
    }
    spawnSync('ip', ['netns', 'del', this.ns], { stdio: 'ignore' });
    if (existsSync(this.dir)) rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A TLS server standing in for kube-apiserver on `host:port` of the node: /readyz answers 200 "ok".
 * Call again after stop() to restart it (the key pair is reused).
 */
export function startFakeApiserver(box: NodeSandbox, host: string, port: number): { stop: () => void; log: () => string } {
  const key = join(box.dir, 'apiserver.key');
  const cert = join(box.dir, 'apiserver.crt');
  if (!existsSync(cert)) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=apiserver', '-keyout', key, '-out', cert], { stdio: 'pipe' });
  }
  const js = join(box.dir, 'apiserver.mjs');
  writeFileSync(js, `
    import https from 'node:https'; import { readFileSync } from 'node:fs';
    https.createServer({ key: readFileSync(${JSON.stringify(key)}), cert: readFileSync(${JSON.stringify(cert)}) },
      (req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(req.url === '/readyz' ? 'ok' : 'apiserver'); })
      .listen(${port}, ${JSON.stringify(host)});
  `);
  const p = box.start([process.execPath, js]);
  return { stop: p.stop, log: p.log };
}

/** An L2 segment: a bridge `br0` in its own network namespace. */
export class Segment {
  readonly ns: string;
  constructor() {
    counter += 1;
    this.ns = `bmlbt-rnd-${process.pid}-seg${counter}`;
    execFileSync('ip', ['netns', 'add', this.ns], { stdio: 'pipe' });
    try {
      execFileSync('ip', ['-n', this.ns, 'link', 'add', 'br0', 'type', 'bridge'], { stdio: 'pipe' });
      execFileSync('ip', ['-n', this.ns, 'link', 'set', 'br0', 'up'], { stdio: 'pipe' });
    } catch (e) {
      this.close();
      throw e;
    }
  }

  close(): void {
    spawnSync('ip', ['netns', 'del', this.ns], { stdio: 'ignore' });
  }
}

/** Poll `check` every 100 ms until it returns true or `timeoutMs` passes; returns the elapsed ms or -1. */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (check()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check() ? Date.now() - start : -1;
}
