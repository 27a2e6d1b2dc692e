import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkFreshness, decodeMessage, encodeMessage, frame, parsePeerAddress, unframe, REPLAY_WINDOW,
  type MemberMessage, type ReplayWindow,
} from '../../../src/speaker/membership-message.js';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const other = Buffer.from('fedcba9876543210fedcba9876543210');
const msg: MemberMessage = { kind: 'heartbeat', node: 'lb1', incarnation: 1000, seq: 7, sentAt: 1_700_000_000_000 };

test('GIVEN a message WHEN encoded and decoded with the same key THEN it round-trips', () => {
  assert.deepEqual(decodeMessage(encodeMessage(msg, key), key), { ok: true, message: msg });
  const st: MemberMessage = { ...msg, kind: 'state', members: [{ node: 'lb1', incarnation: 1000 }, { node: 'lb2', incarnation: 5 }] };
  assert.deepEqual(decodeMessage(encodeMessage(st, key), key), { ok: true, message: st });
});

test('GIVEN a message WHEN decoded with the wrong key THEN badMac', () => {
  const r = decodeMessage(encodeMessage(msg, key), other);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'badMac');
});

test('GIVEN a message WHEN any single body or MAC byte is flipped THEN badMac', () => {
  const good = encodeMessage(msg, key);
  for (let i = 4; i < good.length; i++) {
    const bad = Buffer.from(good);
    bad[i] = bad[i]! ^ 0x01;
    const r = decodeMessage(bad, key);
    assert.equal(!r.ok && r.reason, 'badMac', `byte ${i}`);
  }
});

test('GIVEN a tampered node name with its MAC recomputed under another key THEN badMac', () => {
  const forged = encodeMessage({ ...msg, node: 'lb2' }, other);
  assert.equal(decodeMessage(forged, key).ok, false);
});

test('GIVEN garbage, a short buffer or a bad magic WHEN decoded THEN malformed', () => {
  for (const b of [Buffer.alloc(0), Buffer.from('hello'), Buffer.concat([Buffer.from('XXXX'), encodeMessage(msg, key).subarray(4)])]) {
    const r = decodeMessage(b, key);
    assert.equal(!r.ok && r.reason, 'malformed');
  }
});

test('GIVEN a correctly signed body that is not a valid message WHEN decoded THEN malformed', () => {
  const r = decodeMessage(encodeMessage({ ...msg, seq: -1 } as MemberMessage, key), key);
  assert.equal(!r.ok && r.reason, 'malformed');
});

const now = 1_700_000_000_000;
const skew = 30_000;

test('GIVEN no history WHEN a fresh message arrives THEN accepted with a new window', () => {
  const v = checkFreshness(undefined, { incarnation: 5, seq: 1, sentAt: now }, now, skew);
  assert.deepEqual(v, { accept: true, newIncarnation: true, window: { incarnation: 5, highest: 1, bitmap: 1n } });
});

test('GIVEN seq 10 seen WHEN seq 10 arrives again THEN replay', () => {
  const w: ReplayWindow = { incarnation: 5, highest: 10, bitmap: 1n };
  assert.deepEqual(checkFreshness(w, { incarnation: 5, seq: 10, sentAt: now }, now, skew), { accept: false, reason: 'replay' });
});

test('GIVEN seq 10 seen WHEN reordered seq 9 arrives THEN accepted once, then replay', () => {
  const w: ReplayWindow = { incarnation: 5, highest: 10, bitmap: 1n };
  const v = checkFreshness(w, { incarnation: 5, seq: 9, sentAt: now }, now, skew);
  assert.equal(v.accept, true);
  assert.ok(v.accept);
  assert.deepEqual(checkFreshness(v.window, { incarnation: 5, seq: 9, sentAt: now }, now, skew), { accept: false, reason: 'replay' });
});

test('GIVEN highest 100 WHEN a seq older than the window arrives THEN replay', () => {
  const w: ReplayWindow = { incarnation: 5, highest: 100, bitmap: 1n };
  assert.deepEqual(checkFreshness(w, { incarnation: 5, seq: 100 - REPLAY_WINDOW, sentAt: now }, now, skew), { accept: false, reason: 'replay' });
});

test('GIVEN a sequence of seqs WHEN checked in order with gaps and jumps THEN each accepted exactly once', () => {
  let w: ReplayWindow | undefined;
  const seqs = [1, 2, 5, 3, 4, 200, 150, 199, 201];
  for (const s of seqs) {
    const v = checkFreshness(w, { incarnation: 1, seq: s, sentAt: now }, now, skew);
    assert.ok(v.accept, `seq ${s}`);
    w = v.window;
  }
  for (const s of [150, 199, 200, 201, 5, 1]) {
    assert.equal(checkFreshness(w, { incarnation: 1, seq: s, sentAt: now }, now, skew).accept, false, `seq ${s} replay`);
  }
});

test('GIVEN incarnation 5 known WHEN incarnation 4 arrives THEN staleIncarnation; incarnation 6 THEN new window', () => {
  const w: ReplayWindow = { incarnation: 5, highest: 10, bitmap: 1n };
  assert.deepEqual(checkFreshness(w, { incarnation: 4, seq: 999, sentAt: now }, now, skew), { accept: false, reason: 'staleIncarnation' });
  const v = checkFreshness(w, { incarnation: 6, seq: 1, sentAt: now }, now, skew);
  assert.ok(v.accept && v.newIncarnation && v.window.highest === 1);
});

test('GIVEN timestamps outside the skew window WHEN checked THEN stale or future', () => {
  assert.deepEqual(checkFreshness(undefined, { incarnation: 1, seq: 1, sentAt: now - skew - 1 }, now, skew), { accept: false, reason: 'staleTimestamp' });
  assert.deepEqual(checkFreshness(undefined, { incarnation: 1, seq: 1, sentAt: now + skew + 1 }, now, skew), { accept: false, reason: 'futureTimestamp' });
  assert.equal(checkFreshness(undefined, { incarnation: 1, seq: 1, sentAt: now - skew }, now, skew).accept, true);
});

test('GIVEN frames split across chunks WHEN unframed THEN complete frames come out and the rest is kept', () => {
  const a = frame(Buffer.from('one'));
  const b = frame(Buffer.from('second'));
  const all = Buffer.concat([a, b]);
  const r1 = unframe(all.subarray(0, a.length + 3));
  assert.ok(!('error' in r1));
  assert.deepEqual(r1.frames.map(String), ['one']);
  const r2 = unframe(Buffer.concat([r1.rest, all.subarray(a.length + 3)]));
  assert.ok(!('error' in r2));
  assert.deepEqual(r2.frames.map(String), ['second']);
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(10_000_000);
  assert.ok('error' in unframe(huge));
});

test('GIVEN peer entries WHEN parsed THEN host and port come out (default port when absent)', () => {
  assert.deepEqual(parsePeerAddress('198.51.100.21', 7946), { host: '198.51.100.21', port: 7946 });
  assert.deepEqual(parsePeerAddress('127.0.0.1:9000', 7946), { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(parsePeerAddress('[2001:db8::1]:9000', 7946), { host: '2001:db8::1', port: 9000 });
  assert.deepEqual(parsePeerAddress('2001:db8::1', 7946), { host: '2001:db8::1', port: 7946 });
  assert.equal(parsePeerAddress('host:99999', 7946), undefined);
  assert.equal(parsePeerAddress('', 7946), undefined);
});

import fc from 'fast-check';

test('GIVEN arbitrary bytes WHEN decoded THEN never throws and never accepts without the key', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    const r = decodeMessage(Buffer.from(bytes), key);
    assert.equal(r.ok, false);
  }), { numRuns: 500 });
  // Valid framing with garbage after the MAC of the right key: only a correct MAC over the body passes.
  fc.assert(fc.property(fc.string({ maxLength: 100 }), (s) => {
    const r = decodeMessage(Buffer.concat([Buffer.from('BMM1'), Buffer.alloc(32), Buffer.from(s)]), key);
    assert.equal(r.ok, false);
  }), { numRuns: 200 });
});

test('GIVEN any order of seqs with repeats WHEN checked in sequence THEN each seq is accepted at most once, and a first sight near the top is accepted', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 300 }), (seqs) => {
    let w: ReplayWindow | undefined;
    const accepted = new Set<number>();
    for (const seq of seqs) {
      const v = checkFreshness(w, { incarnation: 1, seq, sentAt: now }, now, skew);
      if (v.accept) {
        assert.ok(!accepted.has(seq), `seq ${seq} accepted twice`);
        accepted.add(seq);
        w = v.window;
      } else {
        assert.equal(v.reason, 'replay');
        // Refused only if seen before or too far below the highest.
        assert.ok(accepted.has(seq) || (w !== undefined && w.highest - seq >= REPLAY_WINDOW), `fresh seq ${seq} refused (highest ${w?.highest})`);
      }
    }
  }), { numRuns: 300 });
});
