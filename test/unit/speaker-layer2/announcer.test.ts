/**
 * The announcer's own bookkeeping with the packet edge stubbed (the real sockets are covered by
 * test/e2e/speaker/announcer.test.ts): bursts, cancellation, group reference counts, answers,
 * send failures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openL2Announcer } from '../../../src/speaker/layer2/announcer.js';
import type { PacketIo, PacketSocket } from '../../../src/speaker/layer2/packet-socket.js';
import { ETHERTYPE_ARP, formatMac } from '../../../src/speaker/layer2/ethernet.js';
import { decodeArpFrame } from '../../../src/speaker/layer2/arp.js';
import { decodeNdpFrame } from '../../../src/speaker/layer2/ndp.js';
import { ARP_REQUEST_B_FOR_A, MAC_A, NS_B_FOR_A } from './fixtures.js';

interface FakeSocket extends PacketSocket { ethertype: number; sent: Buffer[]; groups: string[]; deliver(f: Buffer): void; closed: boolean; failSends: boolean }

function fakeIo(): PacketIo & { sockets: FakeSocket[] } {
  const sockets: FakeSocket[] = [];
  return {
    sockets,
    interfaceInfo: (name) => ({ name, index: 2, mac: Buffer.from(MAC_A), up: true }),
    open(_name, ethertype, filter, onFrame) {
      assert.ok(filter && filter.length % 8 === 0, 'a BPF program is attached');
      const s: FakeSocket = {
        ethertype, sent: [], groups: [], closed: false, failSends: false,
        send(f) { if (this.failSends) throw new Error('ENOBUFS'); this.sent.push(f); },
        addMembership(m) { this.groups.push(formatMac(m)); },
        dropMembership(m) { this.groups.splice(this.groups.indexOf(formatMac(m)), 1); },
        close() { this.closed = true; },
        deliver: (f) => onFrame(f),
      };
      sockets.push(s);
      return s;
    },
  };
}

const mldLog: string[] = [];
const mld = { join: (g: string) => mldLog.push(`+${g}`), leave: (g: string) => mldLog.push(`-${g}`), close: () => {} };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('GIVEN garpRepeat 3 WHEN an IPv4 is announced THEN one gratuitous ARP goes out at once and two more follow', async () => {
  const io = fakeIo();
  const a = await openL2Announcer({ interfaceName: 'eth0', garpRepeat: 3, garpIntervalMs: 10, io, mld });
  const arp = io.sockets.find((s) => s.ethertype === ETHERTYPE_ARP) as FakeSocket;
  assert.equal(a.announce('198.51.100.200'), true);
  assert.equal(arp.sent.length, 1, 'the first one synchronously');
  assert.equal(a.announce('198.51.100.200'), false, 'already announced');
  await sleep(80);
  assert.equal(arp.sent.length, 3);
  for (const f of arp.sent) {
    const d = decodeArpFrame(f);
    assert.ok(d.ok);
    assert.equal(d.frame.arp.senderIp, '198.51.100.200');
    assert.equal(d.frame.arp.targetIp, '198.51.100.200');
  }
  assert.equal(a.stats().gratuitousSent, 3);
  a.close();
  assert.ok(io.sockets.every((s) => s.closed));
});

test('GIVEN a burst in progress WHEN the IP is withdrawn THEN the rest of the burst is cancelled', async () => {
  const io = fakeIo();
  const a = await openL2Announcer({ interfaceName: 'eth0', garpRepeat: 5, garpIntervalMs: 20, io, mld });
  const arp = io.sockets.find((s) => s.ethertype === ETHERTYPE_ARP) as FakeSocket;
  a.announce('198.51.100.201');
  a.withdraw('198.51.100.201');
  await sleep(120);
  assert.equal(arp.sent.length, 1);
  a.close();
});

test('GIVEN two IPv6 addresses sharing a solicited-node group WHEN announced and withdrawn THEN the group is joined once and left with the last', async () => {
  const io = fakeIo();
  mldLog.length = 0;
  const a = await openL2Announcer({ interfaceName: 'eth0', garpRepeat: 1, io, mld, ndpSource: () => 'fe80::1' });
  const ndp = io.sockets.find((s) => s.ethertype !== ETHERTYPE_ARP) as FakeSocket;
  a.announce('2001:db8:100::200');
  a.announce('2001:db8:200::200'); // same low 24 bits
  a.announce('2001:db8:100::201');
  assert.deepEqual(ndp.groups.sort(), ['33:33:ff:00:02:00', '33:33:ff:00:02:01']);
  assert.deepEqual(mldLog, ['+ff02::1:ff00:200', '+ff02::1:ff00:201']);
  a.withdraw('2001:db8:100::200');
  assert.deepEqual(ndp.groups.sort(), ['33:33:ff:00:02:00', '33:33:ff:00:02:01'], 'still needed by 2001:db8:200::200');
  a.withdraw('2001:DB8:200:0::200');
  assert.deepEqual(ndp.groups, ['33:33:ff:00:02:01']);
  assert.deepEqual(mldLog, ['+ff02::1:ff00:200', '+ff02::1:ff00:201', '-ff02::1:ff00:200']);
  const na = decodeNdpFrame(ndp.sent[0] as Buffer);
  assert.ok(na.ok);
  assert.equal(na.frame.source, 'fe80::1');
  assert.equal(na.frame.destination, 'ff02::1');
  a.close();
});

test('GIVEN received requests WHEN they are for announced IPs THEN replies go out on the same socket and are counted; others are not', async () => {
  const io = fakeIo();
  const a = await openL2Announcer({ interfaceName: 'eth0', garpRepeat: 1, io, mld, ndpSource: (t) => t });
  const arp = io.sockets.find((s) => s.ethertype === ETHERTYPE_ARP) as FakeSocket;
  const ndp = io.sockets.find((s) => s.ethertype !== ETHERTYPE_ARP) as FakeSocket;
  arp.deliver(ARP_REQUEST_B_FOR_A);
  ndp.deliver(NS_B_FOR_A);
  assert.deepEqual(a.stats(), { arpRequests: 0, arpReplies: 0, ndpSolicitations: 0, ndpAdverts: 0, gratuitousSent: 0, sendErrors: 0 });
  a.announce('198.51.100.21');
  a.announce('2001:db8:100::21');
  arp.deliver(ARP_REQUEST_B_FOR_A);
  ndp.deliver(NS_B_FOR_A);
  const s = a.stats();
  assert.deepEqual([s.arpRequests, s.arpReplies, s.ndpSolicitations, s.ndpAdverts, s.gratuitousSent], [1, 1, 1, 1, 2]);
  arp.failSends = true;
  arp.deliver(ARP_REQUEST_B_FOR_A);
  assert.deepEqual([a.stats().arpRequests, a.stats().arpReplies, a.stats().sendErrors], [2, 1, 1]);
  a.close();
  arp.deliver(ARP_REQUEST_B_FOR_A);
  assert.equal(a.stats().arpRequests, 2, 'nothing handled after close');
  assert.deepEqual(a.announced(), []);
});

test('GIVEN an interface without a MAC WHEN the announcer opens THEN it refuses with InterfaceNotEthernet', async () => {
  const io = fakeIo();
  io.interfaceInfo = (name) => ({ name, index: 1, mac: Buffer.alloc(6), up: true });
  await assert.rejects(openL2Announcer({ interfaceName: 'lo', garpRepeat: 1, io, mld }), { code: 'InterfaceNotEthernet' });
});

test('GIVEN an announced IPv4 WHEN refreshed THEN the whole burst goes out again; an IP not announced is not refreshed', async () => {
  const io = fakeIo();
  const a = await openL2Announcer({ interfaceName: 'eth0', garpRepeat: 3, garpIntervalMs: 10, io, mld });
  const arp = io.sockets.find((s) => s.ethertype === ETHERTYPE_ARP) as FakeSocket;
  a.announce('198.51.100.201');
  await sleep(80);
  assert.equal(arp.sent.length, 3);
  assert.equal(a.refresh('198.51.100.201'), true);
  assert.equal(arp.sent.length, 4, 'the first packet at once');
  await sleep(80);
  assert.equal(arp.sent.length, 6);
  assert.equal(a.refresh('198.51.100.202'), false);
  a.withdraw('198.51.100.201');
  assert.equal(a.refresh('198.51.100.201'), false);
  assert.equal(a.stats().gratuitousSent, 6);
  a.close();
});
