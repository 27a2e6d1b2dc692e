/** What a lab may leave behind on the host, for teardown tests (not a test file itself). */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { systemLabIo } from '../../../src/lab/lab-io.js';
import { labPaths, namespacePrefix } from '../../../src/lab/lab-layout.js';

/** Lab-looking addresses, routes and links in the host's own namespace (there must be none). */
export function hostSnapshot(): { links: string[]; addresses: string[]; routes: string[] } {
  const json = (args: string[]) => JSON.parse(execFileSync('ip', ['-j', ...args], { encoding: 'utf8' }) || '[]') as Record<string, unknown>[];
  const labAddr = (a: string) => a.startsWith('198.51.100.') || a.startsWith('203.0.113.') || a.toLowerCase().startsWith('2001:db8:');
  const links = json(['link', 'show']).map((l) => String(l.ifname)).filter((n) => n.startsWith('p-') || n.startsWith('bmlb-'));
  const addresses = json(['addr', 'show'])
    .flatMap((l) => ((l.addr_info as { local: string }[] | undefined) ?? []).map((a) => a.local))
    .filter(labAddr);
  const routes = [...json(['route', 'show']), ...json(['-6', 'route', 'show'])].map((r) => String(r.dst)).filter(labAddr);
  return { links, addresses, routes };
}

export async function leftovers(name: string, pids: number[]): Promise<{ processes: number[]; namespaces: string[]; mounts: string[]; stateDir: boolean }> {
  const processes = pids.filter((p) => systemLabIo.startTimeOf(p) !== undefined);
  const r = await systemLabIo.run(['ip', 'netns', 'list']);
  const namespaces = r.stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(namespacePrefix(name)));
  const stateDir = labPaths(name).stateDir;
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`/run/netns/${namespacePrefix(name)}`) || l.includes(`${stateDir}/`));
  return { processes, namespaces, mounts, stateDir: existsSync(stateDir) };
}
