/**
 * ARP for IPv4 over Ethernet (RFC 826), pure encode/decode. Only the one combination the speaker
 * uses is accepted: hardware type 1 (Ethernet), protocol 0x0800, lengths 6 and 4.
 */
import {
  BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, ZERO_MAC, decodeEthernet, encodeEthernet, formatIpBytes, ipTextBytes,
} from './ethernet.js';

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
const ARP_LENGTH = 28;

export interface ArpPacket {
  operation: number;
  senderMac: Buffer;
  /** Canonical dotted quad. */
  senderIp: string;
  targetMac: Buffer;
  targetIp: string;
}

export interface ArpFrame {
  ethDestination: Buffer;
  ethSource: Buffer;
  arp: ArpPacket;
}

export type ArpDecodeResult = { ok: true; frame: ArpFrame } | { ok: false; reason: 'short' | 'notArp' | 'unsupported' };

export function encodeArpPayload(p: ArpPacket): Buffer {
  const b = Buffer.alloc(ARP_LENGTH);
  b.writeUInt16BE(1, 0); // Ethernet
  b.writeUInt16BE(ETHERTYPE_IPV4, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(p.operation, 6);
  p.senderMac.copy(b, 8, 0, 6);
  ipTextBytes(p.senderIp, 4).copy(b, 14);
  p.targetMac.copy(b, 18, 0, 6);
  ipTextBytes(p.targetIp, 4).copy(b, 24);
  return b;
}

/** A whole Ethernet frame (42 bytes; the driver pads to the 60-byte minimum, as for the kernel's own ARP). */
export function encodeArpFrame(f: ArpFrame): Buffer {
  return encodeEthernet({ destination: f.ethDestination, source: f.ethSource, ethertype: ETHERTYPE_ARP, payload: encodeArpPayload(f.arp) });
}

export function decodeArpFrame(frame: Buffer): ArpDecodeResult {
  const eth = decodeEthernet(frame);
  if (!eth) return { ok: false, reason: 'short' };
  if (eth.ethertype !== ETHERTYPE_ARP) return { ok: false, reason: 'notArp' };
  const b = eth.payload;
  if (b.length < ARP_LENGTH) return { ok: false, reason: 'short' };
  if (b.readUInt16BE(0) !== 1 || b.readUInt16BE(2) !== ETHERTYPE_IPV4 || b[4] !== 6 || b[5] !== 4) {
    return { ok: false, reason: 'unsupported' };
  }
  return {
    ok: true,
    frame: {
      ethDestination: Buffer.from(eth.destination),
      ethSource: Buffer.from(eth.source),
      arp: {
        operation: b.readUInt16BE(6),
        senderMac: Buffer.from(b.subarray(8, 14)),
        senderIp: formatIpBytes(b.subarray(14, 18)),
        targetMac: Buffer.from(b.subarray(18, 24)),
        targetIp: formatIpBytes(b.subarray(24, 28)),
      },
    },
  };
}

/** who-has `targetIp` tell `senderIp`, broadcast. */
export function arpRequest(senderMac: Buffer, senderIp: string, targetIp: string): Buffer {
  return encodeArpFrame({
    ethDestination: BROADCAST_MAC,
    ethSource: senderMac,
    arp: { operation: ARP_REQUEST, senderMac, senderIp, targetMac: ZERO_MAC, targetIp },
  });
}

/** The answer to `request` saying `request.targetIp` is at `mac`, sent straight to the asker. */
export function arpReplyTo(request: ArpPacket, mac: Buffer): Buffer {
  return encodeArpFrame({
    ethDestination: request.senderMac,
    ethSource: mac,
    arp: { operation: ARP_REPLY, senderMac: mac, senderIp: request.targetIp, targetMac: request.senderMac, targetIp: request.senderIp },
  });
}

/**
 * Gratuitous ARP announcing `ip` at `mac`: a broadcast request whose sender and target address are
 * both `ip` (the RFC 5227 "ARP Announcement"); neighbours that hold an entry for `ip` update it.
 */
export function gratuitousArp(mac: Buffer, ip: string): Buffer {
  return encodeArpFrame({
    ethDestination: BROADCAST_MAC,
    ethSource: mac,
    arp: { operation: ARP_REQUEST, senderMac: mac, senderIp: ip, targetMac: ZERO_MAC, targetIp: ip },
  });
}
