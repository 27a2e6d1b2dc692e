import { test } from 'node:test';
import assert from 'node:assert/strict';
import { respondToArp, respondToNdp } from '../../../src/speaker/layer2/responder.js';
import { decodeArpFrame, gratuitousArp, arpRequest } from '../../../src/speaker/layer2/arp.js';
import { decodeNdpFrame, neighborSolicitation } from '../../../src/speaker/layer2/ndp.js';
import { ARP_REPLY_KERNEL_A, ARP_REQUEST_B_FOR_A, MAC_A, MAC_B, NA_KERNEL_A, NS_B_FOR_A } from './fixtures.js';

const announced = (...ips: string[]): ReadonlySet<string> => new Set(ips);

test('GIVEN A announces 198.51.100.21 WHEN arping asks for it THEN A replies exactly as a kernel owning it would', () => {
  const d = respondToArp(ARP_REQUEST_B_FOR_A, { mac: MAC_A, announced: announced('198.51.100.21') });
  assert.equal(d.action, 'reply');
  assert.ok(d.action === 'reply');
  assert.equal(d.ip, '198.51.100.21');
  assert.deepEqual(d.frame, ARP_REPLY_KERNEL_A);
});

test('GIVEN A announces nothing for the asked IP WHEN asked THEN it stays silent', () => {
  assert.deepEqual(
    respondToArp(ARP_REQUEST_B_FOR_A, { mac: MAC_A, announced: announced('198.51.100.200') }),
    { action: 'ignore', protocol: 'arp', reason: 'notAnnounced', ip: '198.51.100.21' },
  );
});

test('GIVEN an ARP reply, our own request or a foreign gratuitous ARP WHEN seen THEN none is answered', () => {
  const ctx = { mac: MAC_A, announced: announced('198.51.100.21', '198.51.100.200') };
  assert.equal(respondToArp(ARP_REPLY_KERNEL_A, ctx).action, 'ignore');
  const own = respondToArp(arpRequest(MAC_A, '198.51.100.200', '198.51.100.21'), ctx);
  assert.deepEqual(own, { action: 'ignore', protocol: 'arp', reason: 'fromSelf', ip: '198.51.100.21' });
  const foreign = respondToArp(gratuitousArp(MAC_B, '198.51.100.200'), ctx);
  assert.deepEqual(foreign, { action: 'ignore', protocol: 'arp', reason: 'announcement', ip: '198.51.100.200' });
  assert.deepEqual(respondToArp(Buffer.alloc(20), ctx), { action: 'ignore', protocol: 'arp', reason: 'malformed' });
});

test('GIVEN an ARP probe (sender 0.0.0.0) for an announced IP WHEN seen THEN it is answered, as a kernel defends its address', () => {
  const probe = arpRequest(MAC_B, '0.0.0.0', '198.51.100.200');
  const d = respondToArp(probe, { mac: MAC_A, announced: announced('198.51.100.200') });
  assert.ok(d.action === 'reply');
  const reply = decodeArpFrame(d.frame);
  assert.ok(reply.ok);
  assert.equal(reply.frame.arp.senderIp, '198.51.100.200');
  assert.deepEqual(reply.frame.ethDestination, MAC_B);
});

test('GIVEN A announces 2001:db8:100::21 WHEN B\'s kernel solicits it THEN A advertises exactly as the kernel did', () => {
  const d = respondToNdp(NS_B_FOR_A, { mac: MAC_A, announced: announced('2001:db8:100::21'), sourceIp: (t) => t });
  assert.ok(d.action === 'reply');
  assert.deepEqual(d.frame, NA_KERNEL_A);
});

test('GIVEN a link-local source WHEN A advertises THEN the NA comes from it', () => {
  const d = respondToNdp(NS_B_FOR_A, { mac: MAC_A, announced: announced('2001:db8:100::21'), sourceIp: () => 'fe80::5eff:fe00:21' });
  assert.ok(d.action === 'reply');
  const na = decodeNdpFrame(d.frame);
  assert.ok(na.ok);
  assert.equal(na.frame.source, 'fe80::5eff:fe00:21');
  assert.equal(na.frame.destination, '2001:db8:100::22');
});

test('GIVEN NDP frames that are not for us WHEN seen THEN none is answered', () => {
  const ctx = { mac: MAC_A, announced: announced('2001:db8:100::200'), sourceIp: (t: string) => t };
  assert.deepEqual(respondToNdp(NS_B_FOR_A, ctx), { action: 'ignore', protocol: 'ndp', reason: 'notAnnounced', ip: '2001:db8:100::21' });
  assert.equal(respondToNdp(NA_KERNEL_A, ctx).action, 'ignore');
  const own = respondToNdp(neighborSolicitation(MAC_A, 'fe80::1', '2001:db8:100::200'), ctx);
  assert.deepEqual(own, { action: 'ignore', protocol: 'ndp', reason: 'fromSelf', ip: '2001:db8:100::200' });
});
