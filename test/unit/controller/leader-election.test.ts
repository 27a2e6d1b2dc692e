import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideLease } from '../../../src/controller/leader-election.js';

const rec = (holder: string | undefined, durationMs = 15_000) => ({ holder, renewTime: '2026-01-01T00:00:00.000000Z', durationMs, transitions: 2 });

const cases = [
  { name: 'GIVEN no Lease WHEN deciding THEN create it', in: { record: undefined, observedAt: 0, me: 'a', now: 0 }, want: { kind: 'create' } },
  { name: 'GIVEN a Lease held by me WHEN deciding THEN renew', in: { record: rec('a'), observedAt: 0, me: 'a', now: 99_999 }, want: { kind: 'renew' } },
  { name: 'GIVEN a released Lease (empty holder) WHEN deciding THEN take over at once', in: { record: rec(''), observedAt: 1000, me: 'a', now: 1000 }, want: { kind: 'takeOver' } },
  { name: 'GIVEN another holder seen 5 s ago with 15 s duration WHEN deciding THEN follow, 10 s left', in: { record: rec('b'), observedAt: 1000, me: 'a', now: 6000 }, want: { kind: 'follow', holder: 'b', expiresInMs: 10_000 } },
  { name: 'GIVEN another holder not renewed for longer than the duration WHEN deciding THEN take over from it', in: { record: rec('b'), observedAt: 1000, me: 'a', now: 16_001 }, want: { kind: 'takeOver', from: 'b' } },
  { name: 'GIVEN another holder exactly at the duration WHEN deciding THEN still follow', in: { record: rec('b'), observedAt: 1000, me: 'a', now: 16_000 }, want: { kind: 'follow', holder: 'b', expiresInMs: 0 } },
];
for (const c of cases) test(c.name, () => assert.deepEqual(decideLease(c.in), c.want));
