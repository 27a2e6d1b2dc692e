/**
 * The L2 announcer on a real segment: two namespaces on a bridge; A runs the announcer, B asks with
 * the real tools (iputils arping, the kernel's own ARP and Neighbor Discovery through ping).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ensurePacketAddon } from './addon.js';
import { arpingReplies, createSegment, type Segment } from './segment.js';
import { lineProcess, type LineProcess } from './line-process.js';

const HOST_SCRIPT = fileURLToPath(new URL('./announcer-host.ts', import.meta.url));
const GARP_REPEAT = 3;
let seg: Segment;
let a: LineProcess;
let macA: string;

function neigh(host: string, ip: string): string {
  const out = seg.exec(host, ['ip', '-j', ...(ip.includes(':') ? ['-6'] : ['-4']), 'neigh', 'show', ip]).stdout;
  const entries = JSON.parse(out || '[]') as { lladdr?: string }[];
  return entries[0]?.lladdr ?? '';
}

async function until(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  ensurePacketAddon();
  seg = createSegment(`bmlbt-spk${process.pid}`, [
    { name: 'a', ipv4: '198.51.100.21', ipv6: '2001:db8:100::21' },
    { name: 'b', ipv4: '198.51.100.22', ipv6: '2001:db8:100::22' },
  ]);
  macA = seg.mac('a');
  a = lineProcess(seg.spawn('a', [process.execPath, '--import', 'tsx', HOST_SCRIPT, 'eth0', String(GARP_REPEAT)]));
  const ready = await a.next(20_000);
  assert.equal(ready.mac, macA, 'the announcer reads the interface MAC');
});

after(() => seg?.destroy());

test('GIVEN A announces 198.51.100.200 WHEN B arpings it THEN every reply carries A\'s MAC and the IP is not on A\'s interface', async () => {
  assert.deepEqual((await a.ask('announce 198.51.100.200')).changed, true);
  const macs = arpingReplies(seg, 'b', '198.51.100.200', 3);
  assert.equal(macs.length, 3, 'three probes, three replies');
  assert.ok(macs.every((m) => m === macA), `replies from ${macs.join(', ')}`);
  const addrs = seg.exec('a', ['ip', '-o', 'addr', 'show', 'dev', 'eth0']).stdout;
  assert.ok(!addrs.includes('198.51.100.200'), 'the Service IP is answered for, not configured');
});

test('GIVEN an IP A does not announce WHEN B arpings it THEN nobody answers', () => {
  assert.deepEqual(arpingReplies(seg, 'b', '198.51.100.201', 1), []);
});

test('GIVEN B holds a stale entry for an IP WHEN A announces it THEN B\'s kernel takes A\'s MAC from the gratuitous ARP', async () => {
  seg.exec('b', ['ip', 'neigh', 'replace', '198.51.100.202', 'lladdr', '02:00:5e:00:99:99', 'nud', 'stale', 'dev', 'eth0']);
  assert.equal(neigh('b', '198.51.100.202'), '02:00:5e:00:99:99');
  await a.ask('announce 198.51.100.202');
  await until('B learns A\'s MAC for 198.51.100.202', () => neigh('b', '198.51.100.202') === macA);
});

test('GIVEN A announces 2001:db8:100::200 WHEN B\'s kernel resolves it THEN B\'s neighbour entry has A\'s MAC', async () => {
  await a.ask('announce 2001:db8:100::200');
  seg.exec('b', ['ping', '-6', '-c', '1', '-W', '1', '2001:db8:100::200'], { allowFail: true });
  await until('B resolves 2001:db8:100::200', () => neigh('b', '2001:db8:100::200') === macA);
  const addrs = seg.exec('a', ['ip', '-o', 'addr', 'show', 'dev', 'eth0']).stdout;
  assert.ok(!addrs.includes('2001:db8:100::200'));
  // Joined through the IPv6 stack too, so MLD-snooping switches forward the group to A.
  await until('A is a member of ff02::1:ff00:200', () => seg.exec('a', ['ip', '-6', 'maddr', 'show', 'dev', 'eth0']).stdout.includes('ff02::1:ff00:200'));
});

test('GIVEN B holds a stale IPv6 entry WHEN A announces the IP THEN the unsolicited NA moves it to A', async () => {
  seg.exec('b', ['ip', '-6', 'neigh', 'replace', '2001:db8:100::202', 'lladdr', '02:00:5e:00:99:99', 'nud', 'stale', 'dev', 'eth0']);
  await a.ask('announce 2001:db8:100::202');
  await until('B learns A\'s MAC for 2001:db8:100::202', () => neigh('b', '2001:db8:100::202') === macA);
});

test('GIVEN A withdraws 198.51.100.200 and 2001:db8:100::200 WHEN B asks again THEN nobody answers', async () => {
  assert.equal((await a.ask('withdraw 198.51.100.200')).changed, true);
  assert.equal((await a.ask('withdraw 2001:db8:100::200')).changed, true);
  assert.deepEqual(arpingReplies(seg, 'b', '198.51.100.200', 1), []);
  seg.exec('b', ['ip', '-6', 'neigh', 'flush', 'dev', 'eth0']);
  seg.exec('b', ['ping', '-6', '-c', '1', '-W', '1', '2001:db8:100::200'], { allowFail: true });
  assert.notEqual(neigh('b', '2001:db8:100::200'), macA);
  await until('A left ff02::1:ff00:200', () => !seg.exec('a', ['ip', '-6', 'maddr', 'show', 'dev', 'eth0']).stdout.includes('ff02::1:ff00:200'));
});

test('GIVEN the run so far WHEN stats are read THEN they count what happened', async () => {
  const r = await a.ask('stats');
  const s = r.stats as Record<string, number>;
  assert.ok((s.arpRequests ?? 0) >= 3, `arpRequests ${s.arpRequests}`);
  assert.equal(s.arpReplies, s.arpRequests);
  assert.ok((s.ndpSolicitations ?? 0) >= 1);
  assert.equal(s.ndpAdverts, s.ndpSolicitations);
  assert.equal(s.gratuitousSent, 4 * GARP_REPEAT, 'four announces, each a full burst');
  assert.equal(s.sendErrors, 0);
  assert.deepEqual(r.announced, ['198.51.100.202', '2001:db8:100::202']);
});
