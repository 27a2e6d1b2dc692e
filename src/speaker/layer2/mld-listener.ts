/**
 * Joins IPv6 multicast groups through the kernel's IPv6 stack, so it sends MLD reports for them.
 * The packet socket's PACKET_ADD_MEMBERSHIP only opens the NIC's filter; switches that snoop MLD
 * forward a solicited-node group's traffic only to ports that reported it, so the speaker reports
 * the solicited-node group of every IPv6 address it announces. Best effort: without IPv6 on the
 * interface, joining fails and is only logged.
 */
import { createSocket } from 'node:dgram';

export interface MldListener {
  join(group: string): void;
  leave(group: string): void;
  close(): void;
}

export function openMldListener(interfaceName: string, log: (line: string) => void): MldListener {
  const sock = createSocket({ type: 'udp6', reuseAddr: true });
  const iface = `::%${interfaceName}`;
  let bound = false;
  let closed = false;
  const pending: (() => void)[] = [];
  sock.on('error', (e) => log(`layer2: MLD socket on ${interfaceName}: ${e.message}`));
  sock.bind({ address: '::', port: 0 }, () => {
    bound = true;
    for (const f of pending.splice(0)) f();
  });
  const whenBound = (f: () => void): void => {
    if (closed) return;
    if (bound) f();
    else pending.push(f);
  };
  return {
    join(group) {
      whenBound(() => {
        try {
          sock.addMembership(group, iface);
        } catch (e) {
          log(`layer2: joining ${group} on ${interfaceName} (MLD) failed: ${(e as Error).message}`);
        }
      });
    },
    leave(group) {
      whenBound(() => {
        try {
          sock.dropMembership(group, iface);
        } catch {
          // not joined (the join failed) or the interface is gone
        }
      });
    },
    close() {
      if (closed) return;
      closed = true;
      try { sock.close(); } catch { /* already closed */ }
    },
  };
}
