/**
 * A lab node's mount and UTS namespaces, held by one long-lived process. It is started in the
 * node's network namespace (`ip netns exec`, which also remounts /sys for that namespace), unshares
 * a private mount namespace and a UTS namespace, bind-mounts the node's own directories over
 * /etc/kubernetes, /etc/bmlb, /var/lib/bmlb and /run, sets the hostname, then sleeps. Everything
 * else on the node is started with `nsenter --target <holder pid> --net --mount --uts`.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../errors.js';
import type { LabIo, ProcessIdentity } from '../lab-io.js';
import type { LabLayout, LabNodeLayout } from '../lab-layout.js';
import { NODE_PRIVATE_DIRS } from '../lab-layout.js';

// $1 node dir, $2 hostname, $3 ready file. The node's copy of /run/netns is detached first so the
// node does not pin other namespaces' mounts; the host's /run/netns is untouched (private mounts).
const HOLDER_SCRIPT = [
  'set -e',
  'umount -l /run/netns 2>/dev/null || true',
  ...NODE_PRIVATE_DIRS.map((d) => `mount --bind "$1/${d.dirName}" ${d.mountPoint}`),
  'hostname "$2"',
  ': > "$3"',
  'exec sleep infinity',
].join('\n');

/** The mount points must exist on the host; they are created empty if missing and never written. */
export function ensureMountPoints(): void {
  for (const d of NODE_PRIVATE_DIRS) mkdirSync(d.mountPoint, { recursive: true });
}

export function prepareNodeDirs(node: LabNodeLayout): void {
  for (const d of NODE_PRIVATE_DIRS) mkdirSync(join(node.dir, d.dirName), { recursive: true });
  mkdirSync(join(node.dir, 'etc-kubernetes', 'manifests'), { recursive: true });
  mkdirSync(join(node.dir, 'run', 'sshd'), { recursive: true, mode: 0o755 });
  mkdirSync(join(node.dir, 'sshd'), { recursive: true, mode: 0o700 });
}

export async function startNodeHolder(io: LabIo, layout: LabLayout, node: LabNodeLayout): Promise<ProcessIdentity> {
  const ready = join(node.dir, 'holder.ready');
  rmSync(ready, { force: true });
  const logFile = join(layout.paths.logDir, `holder-${node.name}.log`);
  const holder = await io.startDaemon(
    ['ip', 'netns', 'exec', node.namespace, 'unshare', '--mount', '--uts', '--propagation', 'private', '--', 'sh', '-c', HOLDER_SCRIPT, 'holder', node.dir, node.name, ready],
    { logFile },
  );
  for (let waited = 0; waited < 10_000; waited += 20) {
    if (existsSync(ready)) return holder;
    if (io.startTimeOf(holder.pid) !== holder.startTime) break;
    await io.sleep(20);
  }
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-5).join(' | ') : '';
  throw new UserError(`lab node ${node.name}: its namespace holder did not come up${log ? `: ${log}` : ''}`, {
    code: 'LabNodeFailed',
    data: { holder },
    suggestions: [`Read ${logFile}.`, 'Check that `unshare` and `mount` work here (root, util-linux installed).'],
  });
}
