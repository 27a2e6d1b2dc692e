/**
 * The layer-2 announcer: makes this node answer ARP (IPv4) and Neighbor Solicitations (IPv6) for
 * the Service IPs it announces, WITHOUT putting those addresses on the interface (so kube-proxy in
 * IPVS mode with strictARP keeps working), and sends gratuitous ARP / unsolicited NA bursts on
 * announce so neighbours switch over at once.
 */
import { networkInterfaces } from 'node:os';
import { canonicalIp, parseIp } from '../../net/address.js';
import { UserError } from '../../errors.js';
import { gratuitousArp } from './arp.js';
import { arpRequestFilter, encodeBpf, neighborSolicitationFilter } from './bpf.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV6, formatMac } from './ethernet.js';
import { multicastMac, solicitedNodeAddress, unsolicitedAdvertisement } from './ndp.js';
import { openMldListener, type MldListener } from './mld-listener.js';
import { loadPacketIo, type PacketIo, type PacketSocket } from './packet-socket.js';
import { respondToArp, respondToNdp, type FrameDecision } from './responder.js';

export interface L2AnnouncerStats {
  /** ARP who-has received for an announced IPv4 address. */
  arpRequests: number;
  /** ARP replies sent. */
  arpReplies: number;
  /** Neighbor Solicitations received for an announced IPv6 address. */
  ndpSolicitations: number;
  /** Solicited Neighbor Advertisements sent. */
  ndpAdverts: number;
  /** Gratuitous ARPs plus unsolicited Neighbor Advertisements sent. */
  gratuitousSent: number;
  /** Frames the kernel refused to send. */
  sendErrors: number;
}

export interface L2Announcer {
  readonly interfaceName: string;
  /** The MAC answers carry, lower-case colon form. */
  readonly mac: string;
  /** Start answering for `ip` and send the gratuitous burst; false if it was already announced. */
  announce(ip: string): boolean;
  /**
   * Send the gratuitous burst again for an address already announced (e.g. after this node was cut
   * off and came back: neighbours may have learnt another node's MAC meanwhile); false if not announced.
   */
  refresh(ip: string): boolean;
  /** Stop answering for `ip` (and cancel its pending burst); false if it was not announced. */
  withdraw(ip: string): boolean;
  /** Announced addresses, canonical, sorted. */
  announced(): string[];
  stats(): L2AnnouncerStats;
  close(): void;
}

export interface L2AnnouncerOptions {
  interfaceName: string;
  /** Gratuitous ARPs / unsolicited NAs per announce, the first one immediately. */
  garpRepeat: number;
  /** Gap between the burst's packets. Default 100 ms. */
  garpIntervalMs?: number;
  log?: (line: string) => void;
  /** Raw packet IO; default: the native addon. */
  io?: PacketIo;
  /** Source address for NAs; default: the interface's link-local address, else the target itself. */
  ndpSource?: (target: string) => string;
  /** Report solicited-node groups with MLD (for snooping switches). Default: through the kernel's IPv6 stack. */
  mld?: MldListener | false;
}

function linkLocalOf(interfaceName: string): string | undefined {
  const addrs = networkInterfaces()[interfaceName] ?? [];
  const ll = addrs.find((a) => a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:'));
  return ll ? canonicalIp(ll.address.split('%')[0] ?? '') : undefined;
}

export async function openL2Announcer(opts: L2AnnouncerOptions): Promise<L2Announcer> {
  const io = opts.io ?? loadPacketIo();
  const log = opts.log ?? (() => {});
  const gap = opts.garpIntervalMs ?? 100;
  const repeat = Math.max(1, Math.floor(opts.garpRepeat));
  const info = io.interfaceInfo(opts.interfaceName);
  if (info.mac.every((b) => b === 0)) {
    throw new UserError(`interface ${opts.interfaceName} has no Ethernet address`, {
      code: 'InterfaceNotEthernet',
      suggestions: ['Pass --interface with the node\'s Ethernet interface on the load-balancer subnet.'],
    });
  }
  const mac = Buffer.from(info.mac);
  const macText = formatMac(mac);
  const announcedSet = new Set<string>();
  const bursts = new Map<string, NodeJS.Timeout>();
  /** Solicited-node group MAC → number of announced IPv6 addresses mapping onto it. */
  const groups = new Map<string, number>();
  const stats: L2AnnouncerStats = { arpRequests: 0, arpReplies: 0, ndpSolicitations: 0, ndpAdverts: 0, gratuitousSent: 0, sendErrors: 0 };
  const ndpSource = opts.ndpSource ?? ((target: string) => linkLocalOf(opts.interfaceName) ?? target);
  let closed = false;

  const sendFrame = (sock: PacketSocket, frame: Buffer, what: string): boolean => {
    try {
      sock.send(frame);
      return true;
    } catch (e) {
      stats.sendErrors++;
      log(`layer2: sending ${what} on ${opts.interfaceName} failed: ${(e as Error).message}`);
      return false;
    }
  };

  const handle = (sock: PacketSocket, decision: FrameDecision): void => {
    if (decision.action === 'ignore') {
      if (decision.reason === 'announcement' && decision.ip !== undefined) {
        log(`layer2: another host announces ${decision.ip}, which this node announces (address conflict?)`);
      }
      return;
    }
    if (decision.protocol === 'arp') {
      stats.arpRequests++;
      if (sendFrame(sock, decision.frame, `ARP reply for ${decision.ip}`)) stats.arpReplies++;
    } else {
      stats.ndpSolicitations++;
      if (sendFrame(sock, decision.frame, `neighbor advertisement for ${decision.ip}`)) stats.ndpAdverts++;
    }
  };

  const ctx = { mac, announced: announcedSet };
  // Sockets reference each other's handler only through these bindings, set right after open.
  let arpSock: PacketSocket | undefined;
  let ndpSock: PacketSocket | undefined;
  arpSock = io.open(opts.interfaceName, ETHERTYPE_ARP, encodeBpf(arpRequestFilter()), (frame) => {
    if (arpSock && !closed) handle(arpSock, respondToArp(frame, ctx));
  });
  try {
    ndpSock = io.open(opts.interfaceName, ETHERTYPE_IPV6, encodeBpf(neighborSolicitationFilter()), (frame) => {
      if (ndpSock && !closed) handle(ndpSock, respondToNdp(frame, { ...ctx, sourceIp: ndpSource }));
    });
  } catch (e) {
    arpSock.close();
    throw e;
  }
  const arp = arpSock;
  const ndp = ndpSock;
  const mld = opts.mld === false ? undefined : (opts.mld ?? openMldListener(opts.interfaceName, log));

  const sendGratuitous = (ip: string, v6: boolean): void => {
    const ok = v6
      ? sendFrame(ndp, unsolicitedAdvertisement(mac, ip, ndpSource(ip)), `unsolicited advertisement for ${ip}`)
      : sendFrame(arp, gratuitousArp(mac, ip), `gratuitous ARP for ${ip}`);
    if (ok) stats.gratuitousSent++;
  };

  /** The first packet at once, the rest every `gap` ms; a new burst for an IP replaces its old one. */
  const burst = (ip: string, v6: boolean): void => {
    const running = bursts.get(ip);
    if (running) clearInterval(running);
    bursts.delete(ip);
    sendGratuitous(ip, v6);
    let left = repeat - 1;
    if (left <= 0) return;
    const timer = setInterval(() => {
      if (closed || !announcedSet.has(ip)) return;
      sendGratuitous(ip, v6);
      if (--left <= 0) {
        clearInterval(timer);
        bursts.delete(ip);
      }
    }, gap);
    bursts.set(ip, timer);
  };

  const joinGroup = (ip: string): void => {
    const group = formatMac(multicastMac(solicitedNodeAddress(ip)));
    const n = groups.get(group) ?? 0;
    if (n === 0) {
      try {
        ndp.addMembership(multicastMac(solicitedNodeAddress(ip)));
      } catch (e) {
        log(`layer2: joining ${group} on ${opts.interfaceName} failed: ${(e as Error).message}`);
      }
      mld?.join(solicitedNodeAddress(ip));
    }
    groups.set(group, n + 1);
  };

  const leaveGroup = (ip: string): void => {
    const group = formatMac(multicastMac(solicitedNodeAddress(ip)));
    const n = groups.get(group) ?? 0;
    if (n <= 1) {
      groups.delete(group);
      try {
        ndp.dropMembership(multicastMac(solicitedNodeAddress(ip)));
      } catch {
        // the group may already be gone with the interface
      }
      mld?.leave(solicitedNodeAddress(ip));
    } else {
      groups.set(group, n - 1);
    }
  };

  return {
    interfaceName: opts.interfaceName,
    mac: macText,
    announce(ipText) {
      if (closed) return false;
      const parsed = parseIp(ipText);
      if (!parsed) throw new TypeError(`announce: not an IP address: ${ipText}`);
      const ip = canonicalIp(ipText) as string;
      if (announcedSet.has(ip)) return false;
      announcedSet.add(ip);
      const v6 = parsed.family === 6;
      if (v6) joinGroup(ip);
      log(`layer2: announcing ${ip} from ${opts.interfaceName} (${macText})`);
      burst(ip, v6);
      return true;
    },
    refresh(ipText) {
      const ip = canonicalIp(ipText);
      if (closed || ip === undefined || !announcedSet.has(ip)) return false;
      burst(ip, parseIp(ip)?.family === 6);
      return true;
    },
    withdraw(ipText) {
      const ip = canonicalIp(ipText);
      if (ip === undefined || !announcedSet.has(ip)) return false;
      announcedSet.delete(ip);
      const timer = bursts.get(ip);
      if (timer) clearInterval(timer);
      bursts.delete(ip);
      if (parseIp(ip)?.family === 6) leaveGroup(ip);
      log(`layer2: withdrew ${ip} from ${opts.interfaceName}`);
      return true;
    },
    announced() {
      return [...announcedSet].sort();
    },
    stats() {
      return { ...stats };
    },
    close() {
      if (closed) return;
      closed = true;
      for (const t of bursts.values()) clearInterval(t);
      bursts.clear();
      announcedSet.clear();
      arp.close();
      ndp.close();
      mld?.close();
    },
  };
}
