/**
 * IPv6 Neighbor Discovery (RFC 4861) Neighbor Solicitation / Advertisement over Ethernet, pure
 * encode/decode: IPv6 header, ICMPv6 with its pseudo-header checksum, Source/Target link-layer
 * address options. Decoding validates what RFC 4861 section 7.1 asks a receiver to validate.
 */
import { parseIp } from '../../net/address.js';
import { ETHERTYPE_IPV6, decodeEthernet, encodeEthernet, formatIpBytes, ipTextBytes } from './ethernet.js';

export const ICMPV6 = 58;
export const NEIGHBOR_SOLICITATION = 135;
export const NEIGHBOR_ADVERTISEMENT = 136;
export const OPTION_SOURCE_LINK_ADDRESS = 1;
export const OPTION_TARGET_LINK_ADDRESS = 2;
export const ALL_NODES = 'ff02::1';
const IPV6_HEADER_LENGTH = 40;
const ND_HOP_LIMIT = 255;

export interface NeighborSolicitation {
  type: 'NS';
  target: string;
  sourceLinkAddress?: Buffer;
}

export interface NeighborAdvertisement {
  type: 'NA';
  target: string;
  router: boolean;
  solicited: boolean;
  override: boolean;
  targetLinkAddress?: Buffer;
}

export type NdpMessage = NeighborSolicitation | NeighborAdvertisement;

export interface NdpFrame {
  ethDestination: Buffer;
  ethSource: Buffer;
  /** IPv6 source and destination, canonical text. */
  source: string;
  destination: string;
  message: NdpMessage;
}

export type NdpDecodeResult =
  | { ok: true; frame: NdpFrame }
  | { ok: false; reason: 'short' | 'notIpv6' | 'notIcmpv6' | 'notNeighborDiscovery' | 'hopLimit' | 'badCode' | 'badChecksum' | 'badOption' | 'multicastTarget' | 'badDadSolicitation' };

/** RFC 4861 7.1: solicited-node multicast address ff02::1:ffXX:XXXX of `ip`. */
export function solicitedNodeAddress(ip: string): string {
  const b = ipTextBytes(ip, 6);
  const out = Buffer.from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, b[13] ?? 0, b[14] ?? 0, b[15] ?? 0]);
  return formatIpBytes(out);
}

/** RFC 2464 section 7: 33:33 followed by the low 32 bits of an IPv6 multicast address. */
export function multicastMac(ip: string): Buffer {
  const b = ipTextBytes(ip, 6);
  return Buffer.from([0x33, 0x33, b[12] ?? 0, b[13] ?? 0, b[14] ?? 0, b[15] ?? 0]);
}

/** Ones' complement sum over the IPv6 pseudo-header and the ICMPv6 message (checksum field zero when computing). */
export function icmpv6Checksum(source: Buffer, destination: Buffer, icmp: Buffer): number {
  const pseudo = Buffer.alloc(40);
  source.copy(pseudo, 0);
  destination.copy(pseudo, 16);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo[39] = ICMPV6;
  let sum = 0;
  const add = (buf: Buffer): void => {
    for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
    if (buf.length % 2 === 1) sum += (buf[buf.length - 1] ?? 0) << 8;
  };
  add(pseudo);
  add(icmp);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function linkOption(type: number, mac: Buffer): Buffer {
  const o = Buffer.alloc(8);
  o[0] = type;
  o[1] = 1; // length in units of 8 bytes
  mac.copy(o, 2, 0, 6);
  return o;
}

function encodeIcmp(m: NdpMessage): Buffer {
  const body = Buffer.alloc(24);
  if (m.type === 'NS') {
    body[0] = NEIGHBOR_SOLICITATION;
  } else {
    body[0] = NEIGHBOR_ADVERTISEMENT;
    body[4] = (m.router ? 0x80 : 0) | (m.solicited ? 0x40 : 0) | (m.override ? 0x20 : 0);
  }
  ipTextBytes(m.target, 6).copy(body, 8);
  const option = m.type === 'NS'
    ? (m.sourceLinkAddress ? linkOption(OPTION_SOURCE_LINK_ADDRESS, m.sourceLinkAddress) : undefined)
    : (m.targetLinkAddress ? linkOption(OPTION_TARGET_LINK_ADDRESS, m.targetLinkAddress) : undefined);
  return option ? Buffer.concat([body, option]) : body;
}

export function encodeNdpFrame(f: NdpFrame): Buffer {
  const src = ipTextBytes(f.source, 6);
  const dst = ipTextBytes(f.destination, 6);
  const icmp = encodeIcmp(f.message);
  icmp.writeUInt16BE(icmpv6Checksum(src, dst, icmp), 2);
  const ip6 = Buffer.alloc(IPV6_HEADER_LENGTH);
  ip6.writeUInt32BE(0x60000000, 0);
  ip6.writeUInt16BE(icmp.length, 4);
  ip6[6] = ICMPV6;
  ip6[7] = ND_HOP_LIMIT;
  src.copy(ip6, 8);
  dst.copy(ip6, 24);
  return encodeEthernet({ destination: f.ethDestination, source: f.ethSource, ethertype: ETHERTYPE_IPV6, payload: Buffer.concat([ip6, icmp]) });
}

function isUnspecified(b: Buffer): boolean {
  return b.every((x) => x === 0);
}

export function decodeNdpFrame(frame: Buffer): NdpDecodeResult {
  const eth = decodeEthernet(frame);
  if (!eth) return { ok: false, reason: 'short' };
  if (eth.ethertype !== ETHERTYPE_IPV6) return { ok: false, reason: 'notIpv6' };
  const p = eth.payload;
  if (p.length < IPV6_HEADER_LENGTH || (p[0] ?? 0) >> 4 !== 6) return { ok: false, reason: 'short' };
  if (p[6] !== ICMPV6) return { ok: false, reason: 'notIcmpv6' };
  const payloadLength = p.readUInt16BE(4);
  if (p.length < IPV6_HEADER_LENGTH + payloadLength || payloadLength < 4) return { ok: false, reason: 'short' };
  const src = p.subarray(8, 24);
  const dst = p.subarray(24, 40);
  const icmp = p.subarray(IPV6_HEADER_LENGTH, IPV6_HEADER_LENGTH + payloadLength);
  const type = icmp[0];
  if (type !== NEIGHBOR_SOLICITATION && type !== NEIGHBOR_ADVERTISEMENT) return { ok: false, reason: 'notNeighborDiscovery' };
  if (payloadLength < 24) return { ok: false, reason: 'short' };
  if (p[7] !== ND_HOP_LIMIT) return { ok: false, reason: 'hopLimit' };
  if (icmp[1] !== 0) return { ok: false, reason: 'badCode' };
  const zeroed = Buffer.from(icmp);
  zeroed.writeUInt16BE(0, 2);
  if (icmpv6Checksum(src, dst, zeroed) !== icmp.readUInt16BE(2)) return { ok: false, reason: 'badChecksum' };
  const targetBytes = icmp.subarray(8, 24);
  if (targetBytes[0] === 0xff) return { ok: false, reason: 'multicastTarget' };
  let linkAddress: Buffer | undefined;
  const wanted = type === NEIGHBOR_SOLICITATION ? OPTION_SOURCE_LINK_ADDRESS : OPTION_TARGET_LINK_ADDRESS;
  for (let off = 24; off < icmp.length; ) {
    if (off + 2 > icmp.length) return { ok: false, reason: 'badOption' };
    const optType = icmp[off] ?? 0;
    const optLen = (icmp[off + 1] ?? 0) * 8;
    if (optLen === 0 || off + optLen > icmp.length) return { ok: false, reason: 'badOption' };
    if (optType === wanted && optLen >= 8) linkAddress = Buffer.from(icmp.subarray(off + 2, off + 8));
    off += optLen;
  }
  const source = formatIpBytes(src);
  const destination = formatIpBytes(dst);
  const target = formatIpBytes(targetBytes);
  if (type === NEIGHBOR_SOLICITATION) {
    // Duplicate address detection: from ::, to a solicited-node group, no source link-layer option.
    if (isUnspecified(src) && (linkAddress !== undefined || dst[0] !== 0xff)) return { ok: false, reason: 'badDadSolicitation' };
    return {
      ok: true,
      frame: {
        ethDestination: Buffer.from(eth.destination), ethSource: Buffer.from(eth.source), source, destination,
        message: { type: 'NS', target, ...(linkAddress ? { sourceLinkAddress: linkAddress } : {}) },
      },
    };
  }
  const flags = icmp[4] ?? 0;
  return {
    ok: true,
    frame: {
      ethDestination: Buffer.from(eth.destination), ethSource: Buffer.from(eth.source), source, destination,
      message: {
        type: 'NA', target, router: (flags & 0x80) !== 0, solicited: (flags & 0x40) !== 0, override: (flags & 0x20) !== 0,
        ...(linkAddress ? { targetLinkAddress: linkAddress } : {}),
      },
    },
  };
}

/**
 * The answer to a Neighbor Solicitation for an address we own, sent from `sourceIp` (our link-local
 * address when we have one): unicast to the asker with Solicited+Override, or — for a DAD probe from
 * the unspecified address — to all-nodes without Solicited (RFC 4861 7.2.4).
 */
export function neighborAdvertisementFor(ns: NdpFrame, mac: Buffer, sourceIp: string): Buffer {
  if (ns.message.type !== 'NS') throw new TypeError('neighborAdvertisementFor needs a Neighbor Solicitation');
  const dad = ns.source === '::';
  const askerMac = ns.message.sourceLinkAddress ?? ns.ethSource;
  return encodeNdpFrame({
    ethDestination: dad ? multicastMac(ALL_NODES) : askerMac,
    ethSource: mac,
    source: sourceIp,
    destination: dad ? ALL_NODES : ns.source,
    message: { type: 'NA', target: ns.message.target, router: false, solicited: !dad, override: true, targetLinkAddress: mac },
  });
}

/** Unsolicited Neighbor Advertisement for `ip` at `mac` to all-nodes, Override set (RFC 4861 7.2.6). */
export function unsolicitedAdvertisement(mac: Buffer, ip: string, sourceIp: string): Buffer {
  return encodeNdpFrame({
    ethDestination: multicastMac(ALL_NODES),
    ethSource: mac,
    source: sourceIp,
    destination: ALL_NODES,
    message: { type: 'NA', target: ip, router: false, solicited: false, override: true, targetLinkAddress: mac },
  });
}

/** A Neighbor Solicitation for `target` to its solicited-node group, as a host resolving it would send. */
export function neighborSolicitation(mac: Buffer, sourceIp: string, target: string): Buffer {
  const group = solicitedNodeAddress(target);
  return encodeNdpFrame({
    ethDestination: multicastMac(group),
    ethSource: mac,
    source: sourceIp,
    destination: group,
    message: { type: 'NS', target, ...(sourceIp === '::' ? {} : { sourceLinkAddress: mac }) },
  });
}

/** True for an IPv6 address text (used to route an announced IP to ARP or NDP). */
export function isIpv6(ip: string): boolean {
  return parseIp(ip)?.family === 6;
}

