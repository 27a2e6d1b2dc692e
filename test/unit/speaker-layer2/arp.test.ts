import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARP_REPLY, ARP_REQUEST, arpReplyTo, arpRequest, decodeArpFrame, encodeArpFrame, gratuitousArp } from '../../../src/speaker/layer2/arp.js';
import { BROADCAST_MAC, ZERO_MAC, formatMac, parseMac } from '../../../src/speaker/layer2/ethernet.js';
import { ARP_REPLY_KERNEL_A, ARP_REQUEST_B_FOR_A, ARP_UNSOLICITED_B, MAC_A, MAC_B } from './fixtures.js';

test('GIVEN the who-has arping sent WHEN decoded THEN every field is read', () => {
  const d = decodeArpFrame(ARP_REQUEST_B_FOR_A);
  assert.ok(d.ok);
  assert.equal(d.frame.arp.operation, ARP_REQUEST);
  assert.equal(formatMac(d.frame.ethSource), '02:00:5e:00:00:22');
  assert.deepEqual(d.frame.ethDestination, BROADCAST_MAC);
  assert.equal(formatMac(d.frame.arp.senderMac), '02:00:5e:00:00:22');
  assert.equal(d.frame.arp.senderIp, '198.51.100.22');
  assert.equal(d.frame.arp.targetIp, '198.51.100.21');
});

test('GIVEN a captured request WHEN decoded and encoded again THEN the bytes are identical', () => {
  for (const f of [ARP_REQUEST_B_FOR_A, ARP_REPLY_KERNEL_A, ARP_UNSOLICITED_B]) {
    const d = decodeArpFrame(f);
    assert.ok(d.ok);
    assert.deepEqual(encodeArpFrame(d.frame), f);
  }
});

test('GIVEN arping\'s request WHEN answered for A THEN the reply is byte-for-byte what the Linux kernel sent', () => {
  const d = decodeArpFrame(ARP_REQUEST_B_FOR_A);
  assert.ok(d.ok);
  assert.deepEqual(arpReplyTo(d.frame.arp, MAC_A), ARP_REPLY_KERNEL_A);
});

test('GIVEN a gratuitous ARP for an IP WHEN decoded THEN it is a broadcast request with sender = target = the IP', () => {
  const d = decodeArpFrame(gratuitousArp(MAC_A, '198.51.100.200'));
  assert.ok(d.ok);
  assert.deepEqual(d.frame.ethDestination, BROADCAST_MAC);
  assert.equal(d.frame.arp.operation, ARP_REQUEST);
  assert.equal(d.frame.arp.senderIp, '198.51.100.200');
  assert.equal(d.frame.arp.targetIp, '198.51.100.200');
  assert.deepEqual(d.frame.arp.senderMac, MAC_A);
  assert.deepEqual(d.frame.arp.targetMac, ZERO_MAC);
});

test('GIVEN arpRequest WHEN built THEN it has the layout of a kernel request apart from the target MAC', () => {
  const ours = arpRequest(MAC_B, '198.51.100.22', '198.51.100.21');
  assert.equal(ours.length, 42);
  // iputils puts ff:ff:ff:ff:ff:ff in the target hardware field; the kernel and we put zeros.
  assert.deepEqual(ours.subarray(0, 32), ARP_REQUEST_B_FOR_A.subarray(0, 32));
  assert.deepEqual(ours.subarray(38), ARP_REQUEST_B_FOR_A.subarray(38));
  const d = decodeArpFrame(ours);
  assert.ok(d.ok);
  assert.equal(d.frame.arp.operation, ARP_REQUEST);
});

test('GIVEN frames that are not Ethernet/IPv4 ARP WHEN decoded THEN each is refused with its reason', () => {
  assert.deepEqual(decodeArpFrame(Buffer.alloc(10)), { ok: false, reason: 'short' });
  assert.deepEqual(decodeArpFrame(ARP_REQUEST_B_FOR_A.subarray(0, 30)), { ok: false, reason: 'short' });
  const ipv6 = Buffer.from(ARP_REQUEST_B_FOR_A);
  ipv6.writeUInt16BE(0x86dd, 12);
  assert.deepEqual(decodeArpFrame(ipv6), { ok: false, reason: 'notArp' });
  const tokenRing = Buffer.from(ARP_REQUEST_B_FOR_A);
  tokenRing.writeUInt16BE(6, 14);
  assert.deepEqual(decodeArpFrame(tokenRing), { ok: false, reason: 'unsupported' });
});

test('GIVEN a reply WHEN decoded THEN the operation is reply', () => {
  const d = decodeArpFrame(ARP_REPLY_KERNEL_A);
  assert.ok(d.ok);
  assert.equal(d.frame.arp.operation, ARP_REPLY);
});

test('GIVEN MAC texts WHEN parsed THEN valid ones round-trip and others are refused', () => {
  assert.equal(formatMac(parseMac('02:00:5E:00:00:21') ?? Buffer.alloc(0)), '02:00:5e:00:00:21');
  assert.equal(formatMac(parseMac('02-00-5e-00-00-21') ?? Buffer.alloc(0)), '02:00:5e:00:00:21');
  for (const bad of ['', '02:00:5e:00:00', '02:00:5e:00:00:2g', '0200.5e00.0021']) assert.equal(parseMac(bad), undefined, bad);
});
