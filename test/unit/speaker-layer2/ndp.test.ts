import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeNdpFrame, encodeNdpFrame, icmpv6Checksum, multicastMac, neighborAdvertisementFor, neighborSolicitation,
  solicitedNodeAddress, unsolicitedAdvertisement,
} from '../../../src/speaker/layer2/ndp.js';
import { formatMac } from '../../../src/speaker/layer2/ethernet.js';
import { MAC_A, MAC_B, NA_KERNEL_A, NS_B_FOR_A, RS_A } from './fixtures.js';

test('GIVEN the kernel\'s Neighbor Solicitation WHEN decoded THEN target, addresses and source link-layer option are read', () => {
  const d = decodeNdpFrame(NS_B_FOR_A);
  assert.ok(d.ok, JSON.stringify(d));
  assert.equal(d.frame.source, '2001:db8:100::22');
  assert.equal(d.frame.destination, 'ff02::1:ff00:21');
  assert.equal(d.frame.message.type, 'NS');
  assert.equal(d.frame.message.target, '2001:db8:100::21');
  assert.deepEqual(d.frame.message.type === 'NS' && d.frame.message.sourceLinkAddress, MAC_B);
});

test('GIVEN the kernel\'s NS WHEN answered as A from the target address THEN the NA is byte-for-byte what the kernel sent', () => {
  const d = decodeNdpFrame(NS_B_FOR_A);
  assert.ok(d.ok);
  assert.deepEqual(neighborAdvertisementFor(d.frame, MAC_A, '2001:db8:100::21'), NA_KERNEL_A);
});

test('GIVEN our NS for A WHEN built as B THEN it is byte-for-byte the kernel\'s NS', () => {
  assert.deepEqual(neighborSolicitation(MAC_B, '2001:db8:100::22', '2001:db8:100::21'), NS_B_FOR_A);
});

test('GIVEN the kernel\'s NA WHEN decoded THEN flags and target link-layer option are read', () => {
  const d = decodeNdpFrame(NA_KERNEL_A);
  assert.ok(d.ok);
  const m = d.frame.message;
  assert.equal(m.type, 'NA');
  assert.ok(m.type === 'NA');
  assert.deepEqual([m.router, m.solicited, m.override], [false, true, true]);
  assert.deepEqual(m.targetLinkAddress, MAC_A);
});

test('GIVEN an unsolicited NA WHEN decoded THEN it goes to all-nodes with Override and without Solicited', () => {
  const f = unsolicitedAdvertisement(MAC_A, '2001:db8:100::200', 'fe80::5eff:fe00:21');
  assert.equal(formatMac(f.subarray(0, 6)), '33:33:00:00:00:01');
  const d = decodeNdpFrame(f);
  assert.ok(d.ok);
  assert.equal(d.frame.destination, 'ff02::1');
  assert.equal(d.frame.source, 'fe80::5eff:fe00:21');
  assert.ok(d.frame.message.type === 'NA');
  assert.deepEqual([d.frame.message.solicited, d.frame.message.override], [false, true]);
  assert.equal(d.frame.message.target, '2001:db8:100::200');
});

test('GIVEN a duplicate-address-detection NS (from ::) WHEN answered THEN the NA goes to all-nodes without Solicited', () => {
  const dad = decodeNdpFrame(neighborSolicitation(MAC_B, '::', '2001:db8:100::200'));
  assert.ok(dad.ok, JSON.stringify(dad));
  const na = decodeNdpFrame(neighborAdvertisementFor(dad.frame, MAC_A, 'fe80::1'));
  assert.ok(na.ok);
  assert.equal(na.frame.destination, 'ff02::1');
  assert.ok(na.frame.message.type === 'NA');
  assert.equal(na.frame.message.solicited, false);
});

test('GIVEN tampered or foreign frames WHEN decoded THEN each is refused with its reason', () => {
  const flip = (at: number, v: number): Buffer => { const b = Buffer.from(NS_B_FOR_A); b[at] = v; return b; };
  assert.deepEqual(decodeNdpFrame(flip(14 + 40 + 8 + 15, 0x22)), { ok: false, reason: 'badChecksum' });
  assert.deepEqual(decodeNdpFrame(flip(14 + 7, 64)), { ok: false, reason: 'hopLimit' });
  assert.deepEqual(decodeNdpFrame(RS_A), { ok: false, reason: 'notNeighborDiscovery' });
  assert.deepEqual(decodeNdpFrame(flip(14 + 6, 17)), { ok: false, reason: 'notIcmpv6' });
  assert.deepEqual(decodeNdpFrame(NS_B_FOR_A.subarray(0, 60)), { ok: false, reason: 'short' });
  const zeroLenOption = Buffer.from(NS_B_FOR_A);
  zeroLenOption[14 + 40 + 25] = 0;
  // fix the checksum so only the option is wrong
  const icmp = zeroLenOption.subarray(54);
  icmp.writeUInt16BE(0, 2);
  icmp.writeUInt16BE(icmpv6Checksum(zeroLenOption.subarray(22, 38), zeroLenOption.subarray(38, 54), icmp), 2);
  assert.deepEqual(decodeNdpFrame(zeroLenOption), { ok: false, reason: 'badOption' });
});

test('GIVEN IPv6 addresses WHEN mapped THEN solicited-node group and multicast MAC follow RFC 4291 / RFC 2464', () => {
  assert.equal(solicitedNodeAddress('2001:db8:100::21'), 'ff02::1:ff00:21');
  assert.equal(solicitedNodeAddress('2001:db8::abcd:ef12:3456'), 'ff02::1:ff12:3456');
  assert.equal(formatMac(multicastMac('ff02::1:ff12:3456')), '33:33:ff:12:34:56');
  assert.equal(formatMac(multicastMac('ff02::1')), '33:33:00:00:00:01');
});

test('GIVEN any target and flags WHEN an NA is encoded THEN decoding returns the same message (property)', () => {
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }),
    fc.boolean(), fc.boolean(), fc.boolean(),
    (groups, router, solicited, override) => {
      const g = [0x2001, 0x0db8, ...groups.slice(2)];
      const target = g.map((x) => x.toString(16)).join(':');
      const frame = encodeNdpFrame({
        ethDestination: MAC_B, ethSource: MAC_A, source: 'fe80::1', destination: '2001:db8::2',
        message: { type: 'NA', target, router, solicited, override, targetLinkAddress: MAC_A },
      });
      const d = decodeNdpFrame(frame);
      assert.ok(d.ok);
      assert.ok(d.frame.message.type === 'NA');
      assert.deepEqual([d.frame.message.router, d.frame.message.solicited, d.frame.message.override], [router, solicited, override]);
      assert.deepEqual(d.frame.message.targetLinkAddress, MAC_A);
    },
  ), { numRuns: 200 });
});
