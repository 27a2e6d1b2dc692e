import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { decideAnnouncement, rankCandidates, type ElectionDecision, type ElectionInput } from '../../../src/speaker/election.js';

const h = (s: string) => createHash('sha256').update(s).digest('hex');

test('GIVEN nodes WHEN ranked for an IP THEN order is ascending hex sha256(node#ip)', () => {
  const nodes = ['lb1', 'lb2', 'lb3', 'lb4', 'lb5'];
  for (const ip of ['198.51.100.200', '198.51.100.201', '2001:db8:100::200']) {
    const expected = [...nodes].sort((a, b) => (h(`${a}#${ip}`) < h(`${b}#${ip}`) ? -1 : 1));
    assert.deepEqual(rankCandidates(ip, nodes), expected);
    // independent of input order and duplicates
    assert.deepEqual(rankCandidates(ip, [...nodes].reverse().concat(['lb1'])), expected);
  }
});

test('GIVEN a known vector WHEN ranked THEN the first node is the one with the smallest digest', () => {
  // Digests computed independently of the implementation (sha256 of the literal strings).
  const ip = '198.51.100.200';
  const digests = Object.fromEntries(['lb1', 'lb2', 'lb3'].map((n) => [n, h(`${n}#${ip}`)]));
  const min = Object.entries(digests).sort((a, b) => (a[1] < b[1] ? -1 : 1))[0]![0];
  assert.equal(rankCandidates(ip, ['lb1', 'lb2', 'lb3'])[0], min);
});

test('GIVEN many IPs WHEN ranked over 3 nodes THEN every node wins some (spread)', () => {
  const wins = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const w = rankCandidates(`198.51.${100 + Math.floor(i / 256)}.${i % 256}`, ['lb1', 'lb2', 'lb3'])[0]!;
    wins.set(w, (wins.get(w) ?? 0) + 1);
  }
  assert.equal(wins.size, 3);
  for (const c of wins.values()) assert.ok(c > 50, `uneven spread ${[...wins]}`);
});

function winnerFor(ip: string, nodes: string[]): string {
  return rankCandidates(ip, nodes)[0]!;
}

const ip = '198.51.100.200';
const all = ['lb1', 'lb2', 'lb3'];
const w = winnerFor(ip, all);
const loser = all.find((n) => n !== w)!;
const wLocal = winnerFor(ip, [loser, all.find((n) => n !== w && n !== loser)!]);

const table: { name: string; input: ElectionInput; want: ElectionDecision }[] = [
  {
    name: 'GIVEN policy Cluster and self is the top-ranked live node WHEN deciding THEN announce',
    input: { ip, self: w, liveLbNodes: all, policy: 'Cluster', nodesWithReadyEndpoints: [] },
    want: { announce: true, node: w },
  },
  {
    name: 'GIVEN policy Cluster and self is not top-ranked WHEN deciding THEN notElected naming the winner',
    input: { ip, self: loser, liveLbNodes: all, policy: 'Cluster', nodesWithReadyEndpoints: [] },
    want: { announce: false, reason: 'notElected', winner: w },
  },
  {
    name: 'GIVEN the winner died WHEN the next node decides THEN it takes over',
    input: { ip, self: winnerFor(ip, all.filter((n) => n !== w)), liveLbNodes: all.filter((n) => n !== w), policy: 'Cluster', nodesWithReadyEndpoints: [] },
    want: { announce: true, node: winnerFor(ip, all.filter((n) => n !== w)) },
  },
  {
    name: 'GIVEN self is not in the live set WHEN deciding THEN selfNotLive',
    input: { ip, self: 'lb9', liveLbNodes: all, policy: 'Cluster', nodesWithReadyEndpoints: [] },
    want: { announce: false, reason: 'selfNotLive' },
  },
  {
    name: 'GIVEN policy Local and no node has a ready endpoint WHEN deciding THEN noCandidates (nobody announces)',
    input: { ip, self: w, liveLbNodes: all, policy: 'Local', nodesWithReadyEndpoints: [] },
    want: { announce: false, reason: 'noCandidates' },
  },
  {
    name: 'GIVEN policy Local and the hash winner has no endpoint WHEN it decides THEN notElected, winner among endpoint nodes',
    input: { ip, self: w, liveLbNodes: all, policy: 'Local', nodesWithReadyEndpoints: all.filter((n) => n !== w) },
    want: { announce: false, reason: 'notElected', winner: wLocal },
  },
  {
    name: 'GIVEN policy Local and self is the best node with an endpoint WHEN deciding THEN announce',
    input: { ip, self: wLocal, liveLbNodes: all, policy: 'Local', nodesWithReadyEndpoints: all.filter((n) => n !== w) },
    want: { announce: true, node: wLocal },
  },
  {
    name: 'GIVEN policy Local and endpoints only on a non-LB node WHEN deciding THEN noCandidates',
    input: { ip, self: w, liveLbNodes: all, policy: 'Local', nodesWithReadyEndpoints: ['worker1'] },
    want: { announce: false, reason: 'noCandidates' },
  },
  {
    name: 'GIVEN policy Cluster WHEN endpoints are listed THEN they are ignored',
    input: { ip, self: w, liveLbNodes: all, policy: 'Cluster', nodesWithReadyEndpoints: ['worker1'] },
    want: { announce: true, node: w },
  },
];

for (const c of table) {
  test(c.name, () => assert.deepEqual(decideAnnouncement(c.input), c.want));
}

test('GIVEN the same live set WHEN every node decides THEN exactly one announces each IP', () => {
  for (let i = 0; i < 50; i++) {
    const addr = `198.51.100.${i}`;
    const announcers = all.filter((self) => decideAnnouncement({ ip: addr, self, liveLbNodes: all, policy: 'Cluster', nodesWithReadyEndpoints: [] }).announce);
    assert.equal(announcers.length, 1);
  }
});
