/**
 * What to do with one received frame (pure): answer it for an announced address, or say why not.
 * The announcer feeds every frame from its packet sockets through these and only sends.
 */
import { ARP_REQUEST, arpReplyTo, decodeArpFrame } from './arp.js';
import { decodeNdpFrame, neighborAdvertisementFor } from './ndp.js';

export interface ResponderContext {
  /** Our interface MAC. */
  mac: Buffer;
  /** Announced addresses in canonical text (see canonicalIp). */
  announced: ReadonlySet<string>;
}

export type FrameDecision =
  | { action: 'reply'; protocol: 'arp' | 'ndp'; ip: string; frame: Buffer }
  | { action: 'ignore'; protocol: 'arp' | 'ndp'; reason: 'malformed' | 'notRequest' | 'fromSelf' | 'notAnnounced' | 'announcement'; ip?: string };

/** ARP who-has for an announced address → a unicast reply with our MAC. */
export function respondToArp(frame: Buffer, ctx: ResponderContext): FrameDecision {
  const d = decodeArpFrame(frame);
  if (!d.ok) return { action: 'ignore', protocol: 'arp', reason: 'malformed' };
  const { arp, ethSource } = d.frame;
  if (arp.operation !== ARP_REQUEST) return { action: 'ignore', protocol: 'arp', reason: 'notRequest' };
  if (ethSource.equals(ctx.mac) || arp.senderMac.equals(ctx.mac)) return { action: 'ignore', protocol: 'arp', reason: 'fromSelf', ip: arp.targetIp };
  if (!ctx.announced.has(arp.targetIp)) return { action: 'ignore', protocol: 'arp', reason: 'notAnnounced', ip: arp.targetIp };
  // Someone else's gratuitous ARP for the address (sender = target): an announcement, not a question.
  if (arp.senderIp === arp.targetIp) return { action: 'ignore', protocol: 'arp', reason: 'announcement', ip: arp.targetIp };
  return { action: 'reply', protocol: 'arp', ip: arp.targetIp, frame: arpReplyTo(arp, ctx.mac) };
}

/**
 * Neighbor Solicitation for an announced address → a Neighbor Advertisement with our MAC, sent
 * from `sourceIp` (our link-local address, or the target itself when the interface has none).
 */
export function respondToNdp(frame: Buffer, ctx: ResponderContext & { sourceIp: (target: string) => string }): FrameDecision {
  const d = decodeNdpFrame(frame);
  if (!d.ok) return { action: 'ignore', protocol: 'ndp', reason: 'malformed' };
  const f = d.frame;
  if (f.message.type !== 'NS') return { action: 'ignore', protocol: 'ndp', reason: 'notRequest' };
  const target = f.message.target;
  if (f.ethSource.equals(ctx.mac)) return { action: 'ignore', protocol: 'ndp', reason: 'fromSelf', ip: target };
  if (!ctx.announced.has(target)) return { action: 'ignore', protocol: 'ndp', reason: 'notAnnounced', ip: target };
  return { action: 'reply', protocol: 'ndp', ip: target, frame: neighborAdvertisementFor(f, ctx.mac, ctx.sourceIp(target)) };
}

