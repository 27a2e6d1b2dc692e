// Three real memberships on 127.0.0.1 (distinct ports), real UDP and TCP sockets.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startMembership, type Membership, type MembershipOptions } from '../../../src/speaker/membership.js';
import { encodeMessage } from '../../../src/speaker/membership-message.js';

const secret = Buffer.from('a-test-secret-of-32-bytes-length');
const HB = 50;
const FAIL = 250;
const open = new Set<Membership>();
after(async () => {
  for (const m of open) await m.close();
});

async function start(nodeName: string, port = 0, peers: string[] = [], extra: Partial<MembershipOptions> = {}): Promise<Membership> {
  const m = await startMembership({ nodeName, bindAddress: '127.0.0.1', port, peers, secret, heartbeatIntervalMs: HB, failureTimeoutMs: FAIL, ...extra });
  open.add(m);
  return m;
}
async function stop(m: Membership, leave = false): Promise<void> {
  await m.close({ leave });
  open.delete(m);
}
async function waitFor(what: string, pred: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

test('GIVEN three speakers WHEN one dies, restarts, and packets are spoofed or replayed THEN membership follows and drops the bad packets', async () => {
  const aLog: string[] = [];
  const a = await start('lb-a', 0, [], { log: (l) => aLog.push(l) });
  const b = await start('lb-b');
  const c = await start('lb-c');
  const addrs = [a, b, c].map((m) => `127.0.0.1:${m.localPort()}`);
  for (const m of [a, b, c]) m.setPeers(addrs);
  const all = ['lb-a', 'lb-b', 'lb-c'];
  const changes: string[][] = [];
  a.on('change', (live) => changes.push(live));

  // THEN all three see each other
  await waitFor('full membership', () => [a, b, c].every((m) => m.live().join() === all.join()), 2000);

  // WHEN c is killed (no goodbye) THEN a and b declare it dead within failureTimeout + a heartbeat (+ slack for a shared CPU)
  const cPort = c.localPort();
  const killMark = aLog.length;
  await stop(c);
  await waitFor('c declared dead', () => a.live().join() === 'lb-a,lb-b' && b.live().join() === 'lb-a,lb-b', 2000);
  // Dead by the timeout (no goodbye was sent): the log says how long it was silent, at least the timeout.
  const silent = aLog.slice(killMark).map((l) => /^membership: lb-c silent for (\d+) ms/.exec(l)?.[1]).find(Boolean);
  assert.ok(silent !== undefined && Number(silent) >= FAIL, `expected a timeout death, log:\n${aLog.slice(killMark).join('\n')}`);
  assert.deepEqual(changes.at(-1), ['lb-a', 'lb-b']);

  // WHEN c restarts on the same address THEN it rejoins everywhere
  const c2 = await start('lb-c', cPort, addrs);
  await waitFor('c rejoined', () => [a, b, c2].every((m) => m.live().join() === all.join()), 2000);
  assert.deepEqual(changes.at(-1), all);

  // WHEN a datagram signed with the wrong key claims to be node lb-x THEN it is dropped and counted
  const spy = createSocket('udp4');
  after(() => new Promise<void>((r) => spy.close(() => r())));
  await new Promise<void>((r) => spy.bind(0, '127.0.0.1', () => r()));
  const authBefore = b.stats().droppedAuth;
  const forged = encodeMessage({ kind: 'heartbeat', node: 'lb-x', incarnation: Date.now() * 1000, seq: 1, sentAt: Date.now() }, Buffer.from('the-wrong-secret-the-wrong-secret'));
  spy.send(forged, b.localPort(), '127.0.0.1');
  await waitFor('spoofed packet counted', () => b.stats().droppedAuth > authBefore, 2000);
  assert.ok(!b.live().includes('lb-x'));

  // WHEN a genuine heartbeat from a is captured and replayed to b THEN it is dropped as a replay
  const captured = new Promise<Buffer>((resolve) => spy.once('message', (m) => resolve(m)));
  a.setPeers([...addrs, `127.0.0.1:${(spy.address() as { port: number }).port}`]);
  const packet = await captured;
  await new Promise((r) => setTimeout(r, 3 * HB)); // b has received this very seq from a by now
  const replayBefore = b.stats().droppedReplay;
  spy.send(packet, b.localPort(), '127.0.0.1');
  await waitFor('replay counted', () => b.stats().droppedReplay > replayBefore, 2000);

  // WHEN c leaves gracefully THEN the others drop it without waiting for the timeout
  const logMark = aLog.length;
  await stop(c2, true);
  await waitFor('c left', () => a.live().join() === 'lb-a,lb-b' && b.live().join() === 'lb-a,lb-b', 2000);
  const sinceLeave = aLog.slice(logMark);
  assert.ok(sinceLeave.includes('membership: lb-c left'), `expected a goodbye, got:\n${sinceLeave.join('\n')}`);
  assert.ok(!sinceLeave.some((l) => l.startsWith('membership: lb-c silent')), 'lb-c was timed out instead of leaving');

  const s = a.stats();
  assert.equal(s.members, 2);
  assert.ok(s.sent > 0 && s.received > 0);
});

test('GIVEN UDP is blocked in one direction WHEN members probe over TCP THEN they still see each other', async () => {
  // Only b has a peer list, so a never sends b a UDP heartbeat: a learns b from b's TCP join and UDP
  // heartbeats, while b hears a only through the replies to its TCP probes (the UDP-silent fallback).
  const a = await start('tcp-a');
  const b = await start('tcp-b', 0, []);
  b.setPeers([`127.0.0.1:${a.localPort()}`]);
  await waitFor('both live', () => a.live().join() === 'tcp-a,tcp-b' && b.live().join() === 'tcp-a,tcp-b', 2000);
  // b stays live at a only through b's heartbeats; a stays live at b only through TCP probe replies.
  await new Promise((r) => setTimeout(r, FAIL * 3));
  assert.equal(b.live().join(), 'tcp-a,tcp-b', 'b must keep a alive through TCP probes');
  assert.ok(b.stats().tcpProbes >= 2, `expected repeated TCP probes, got ${b.stats().tcpProbes}`);
  await stop(a);
  await waitFor('a dead at b', () => b.live().join() === 'tcp-b', 2000);
  await stop(b);
});

test('GIVEN a short secret WHEN starting THEN a UserError says how to fix it', async () => {
  await assert.rejects(
    startMembership({ nodeName: 'x', bindAddress: '127.0.0.1', port: 0, peers: [], secret: Buffer.from('short'), heartbeatIntervalMs: HB, failureTimeoutMs: FAIL }),
    (e: Error & { code?: string }) => e.code === 'MemberSecretTooShort',
  );
});

test('GIVEN a member in its own process WHEN it is SIGKILLed THEN the others declare it dead; WHEN restarted THEN it rejoins', async () => {
  const fixture = fileURLToPath(new URL('./fixtures/member-process.ts', import.meta.url));
  const children: ChildProcess[] = [];
  after(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
  const a = await start('proc-a');
  const b = await start('proc-b');
  // A free port for the child: bind one, release it.
  const probe = await start('proc-probe');
  const port = probe.localPort();
  await stop(probe);
  const addrs = [a, b].map((m) => `127.0.0.1:${m.localPort()}`).concat(`127.0.0.1:${port}`);
  a.setPeers(addrs);
  b.setPeers(addrs);
  const spawnMember = async () => {
    const c = spawn(process.execPath, ['--import', 'tsx', fixture, 'proc-c', String(port), addrs.join(','), secret.toString('hex')], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(c);
    await new Promise<void>((resolve, reject) => {
      c.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
      c.on('exit', (code) => reject(new Error(`member process exited ${code}`)));
    });
    return c;
  };
  const c1 = await spawnMember();
  await waitFor('3 live', () => a.live().join() === 'proc-a,proc-b,proc-c' && b.live().join() === 'proc-a,proc-b,proc-c', 5000);
  c1.kill('SIGKILL');
  await waitFor('proc-c dead after SIGKILL', () => a.live().join() === 'proc-a,proc-b' && b.live().join() === 'proc-a,proc-b', 2000);
  const c2 = await spawnMember();
  await waitFor('proc-c rejoined', () => a.live().join() === 'proc-a,proc-b,proc-c' && b.live().join() === 'proc-a,proc-b,proc-c', 5000);
  c2.kill('SIGKILL');
  await stop(a);
  await stop(b);
});

test('GIVEN two members on ::1 WHEN started THEN they see each other over IPv6', async () => {
  const a = await start('v6-a', 0, [], { bindAddress: '::1' });
  const b = await start('v6-b', 0, [], { bindAddress: '::1' });
  const addrs = [a, b].map((m) => `[::1]:${m.localPort()}`);
  a.setPeers(addrs);
  b.setPeers(addrs);
  await waitFor('v6 membership', () => a.live().join() === 'v6-a,v6-b' && b.live().join() === 'v6-a,v6-b', 2000);
  await stop(b);
  await waitFor('v6-b dead', () => a.live().join() === 'v6-a', 2000);
  await stop(a);
});

test('GIVEN one node whose wall clock is 10 s off and then steps back WHEN running THEN membership is unaffected; beyond the skew window THEN its messages are dropped as stale', async () => {
  let offset = -10_000;
  const skewed = await start('skew-a', 0, [], { clock: () => Date.now() + offset, monotonicClock: () => performance.now() });
  const b = await start('skew-b');
  const addrs = [skewed, b].map((m) => `127.0.0.1:${m.localPort()}`);
  skewed.setPeers(addrs);
  b.setPeers(addrs);
  await waitFor('both live despite 10 s skew', () => skewed.live().join() === 'skew-a,skew-b' && b.live().join() === 'skew-a,skew-b', 2000);
  offset = -25_000; // an NTP step back: liveness runs on the monotonic clock, nothing flaps
  await new Promise((r) => setTimeout(r, 4 * FAIL));
  assert.equal(skewed.live().join(), 'skew-a,skew-b');
  assert.equal(b.live().join(), 'skew-a,skew-b');
  offset = -60_000; // now outside the 30 s window: b drops skew-a's messages and declares it dead
  await waitFor('skew-a dead at b', () => b.live().join() === 'skew-b', 2000);
  assert.ok(b.stats().droppedStale > 0);
  await stop(skewed);
  await stop(b);
});
