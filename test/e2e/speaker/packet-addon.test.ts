/** The native packet addon on its own, in a namespace of the test's own (loopback only). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensurePacketAddon } from './addon.js';

const PROBE = fileURLToPath(new URL('./packet-probe.ts', import.meta.url));
const NS = `bmlbt-spa${process.pid}`;
let report: Record<string, unknown>;

before(() => {
  ensurePacketAddon();
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  const out = execFileSync('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', PROBE], { encoding: 'utf8', timeout: 60_000 });
  report = JSON.parse(out) as Record<string, unknown>;
});

after(() => {
  try { execFileSync('ip', ['netns', 'del', NS]); } catch { /* already gone */ }
});

test('GIVEN lo WHEN its info is read THEN index 1, an all-zero MAC, up, ARPHRD_LOOPBACK', () => {
  assert.deepEqual(report.lo, { index: 1, mac: '000000000000', up: true, hwType: 772 });
});

test('GIVEN bad arguments WHEN the addon is called THEN it throws typed errors instead of crashing', () => {
  assert.match(report.noSuchInterface as string, /^Error:EPACKET:if_nametoindex: No such device/);
  assert.match(report.nameTooLong as string, /^TypeError:/);
  assert.match(report.badFilter as string, /^TypeError:.*multiple of 8/);
  assert.match(report.badCallback as string, /^TypeError:.*onFrame/);
  assert.match(report.shortFrame as string, /^TypeError:.*shorter than an Ethernet header/);
  assert.match(report.badMembership as string, /^TypeError:.*6-byte/);
  assert.match(report.notAHandle as string, /^TypeError:.*handle/);
});

test('GIVEN three frames sent on lo WHEN read back THEN only the two the BPF filter passes arrive, once each (the outgoing copies are dropped)', () => {
  assert.deepEqual(report.sent, [60, 60, 60]);
  assert.deepEqual(report.received, [{ first: 0x42, len: 60, type: 0 }, { first: 0x42, len: 60, type: 0 }]);
});

test('GIVEN an open socket WHEN multicast membership is added and dropped, and the socket closed twice THEN all succeed; sending after close fails', () => {
  assert.equal(report.addMembership, 'no error');
  assert.equal(report.dropMembership, 'no error');
  assert.equal(report.closeTwice, 'no error');
  assert.match(report.sendAfterClose as string, /EPACKET:send: Bad file descriptor/);
});
