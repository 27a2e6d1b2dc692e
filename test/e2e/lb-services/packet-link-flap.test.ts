/**
 * Regression test for the packet addon under a link flap (what the lab failover case does to the
 * announcing node): a raw socket open on an interface keeps receiving after `ip link set down` +
 * `up`. Before the fix, the socket's ENETDOWN (POLLERR) made libuv stop polling it for good, so a
 * speaker whose link came back never answered ARP again. Runs in a namespace of the test's own.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ensurePacketAddon } from '../speaker/addon.js';

const NS = `bmlbt-lbf${process.pid}`;
const FLAP_SCRIPT = `
import { loadPacketIo } from ${JSON.stringify(new URL('../../../src/speaker/layer2/packet-socket.ts', import.meta.url).href)};
import { execFileSync } from 'node:child_process';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const io = loadPacketIo();
let frames = 0;
const sock = io.open('va', 0x0806, null, () => { frames++; });
const arping = () => { try { execFileSync('arping', ['-c', '2', '-w', '2', '-I', 'vb', '198.51.100.251'], { stdio: 'ignore' }); } catch { /* no reply expected */ } };
arping(); await sleep(300);
const before = frames;
execFileSync('ip', ['link', 'set', 'va', 'down']);
await sleep(200);
execFileSync('ip', ['link', 'set', 'va', 'up']);
await sleep(300);
const mark = frames;
arping(); await sleep(300);
sock.close();
process.stdout.write(JSON.stringify({ before, after: frames - mark }));
`;

before(() => {
  ensurePacketAddon();
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['netns', 'exec', NS, 'sh', '-c', 'ip link set lo up && ip link add va type veth peer name vb && ip addr add 198.51.100.250/24 dev vb && ip link set va up && ip link set vb up']);
});

after(() => {
  try { execFileSync('ip', ['netns', 'del', NS]); } catch { /* already gone */ }
});

test('GIVEN a packet socket on va WHEN va goes down and up again THEN ARP requests arriving afterwards are still delivered', () => {
  const out = execFileSync('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', '--input-type=module', '-e', FLAP_SCRIPT], { encoding: 'utf8', timeout: 30_000 });
  const r = JSON.parse(out) as { before: number; after: number };
  assert.equal(r.before, 2, 'two ARP requests seen before the flap');
  assert.equal(r.after, 2, 'two ARP requests seen after the flap');
});
