import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseIp } from '../../../src/net/address.js';
import { formatRange, parsePoolEntry, rangeContains, rangeSize, rangesOverlap, type IpRange } from '../../../src/net/range.js';

function range(s: string): IpRange {
  const r = parsePoolEntry(s);
  assert.ok(r.ok, `${s}: ${r.ok ? '' : r.reason}`);
  return r.range;
}

test('GIVEN CIDRs WHEN parsed THEN first and last cover the block', () => {
  const r = parsePoolEntry('198.51.100.240/29');
  assert.ok(r.ok);
  assert.equal(r.kind, 'cidr');
  assert.equal(formatRange(r.range), '198.51.100.240-198.51.100.247');
  assert.equal(rangeSize(range('198.51.100.0/24')), 256n);
  assert.equal(rangeSize(range('198.51.100.7/32')), 1n);
  assert.equal(rangeSize(range('0.0.0.0/0')), 1n << 32n);
  assert.equal(rangeSize(range('2001:db8::/64')), 1n << 64n);
  assert.equal(formatRange(range('2001:db8:100::200/120')), '2001:db8:100::200-2001:db8:100::2ff');
});

test('GIVEN ranges WHEN parsed THEN both ends are inclusive', () => {
  const r = parsePoolEntry('198.51.100.200-198.51.100.239');
  assert.ok(r.ok);
  assert.equal(r.kind, 'range');
  assert.equal(rangeSize(r.range), 40n);
  assert.equal(rangeSize(range('2001:db8::1-2001:db8::1')), 1n);
});

test('GIVEN bad entries WHEN parsed THEN the reason names the value and the fix', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['198.51.100.0 /24', /spaces/],
    ['198.51.100.5/24', /host bits.*198\.51\.100\.0\/24/],
    ['198.51.100.0/33', /prefix length "33".*0 to 32/],
    ['2001:db8::/129', /0 to 128/],
    ['198.51.100.0/024', /prefix length/],
    ['198.51.100.0/', /prefix length/],
    ['198.51.100.0/24/25', /not a CIDR/],
    ['198.51.100.300/24', /"198\.51\.100\.300".*not an IPv4/],
    ['198.51.100.10', /single address.*198\.51\.100\.10\/32/],
    ['2001:db8::1', /single address.*2001:db8::1\/128/],
    ['pool', /neither a CIDR/],
    ['198.51.100.20-198.51.100.10', /starts after it ends/],
    ['198.51.100.1-2001:db8::1', /mixes IPv4 and IPv6/],
    ['198.51.100.1-198.51.100.2-198.51.100.3', /more than one/],
    ['198.51.100.1-', /end of/],
    ['-198.51.100.1', /start of/],
    ['198.51.100.1-198.51.100', /end of/],
  ];
  for (const [s, re] of cases) {
    const r = parsePoolEntry(s);
    assert.equal(r.ok, false, s);
    if (!r.ok) assert.match(r.reason, re, s);
  }
});

test('GIVEN ranges WHEN compared THEN overlap and containment respect family and bounds', () => {
  assert.equal(rangesOverlap(range('198.51.100.0/28'), range('198.51.100.15-198.51.100.20')), true);
  assert.equal(rangesOverlap(range('198.51.100.0/28'), range('198.51.100.16-198.51.100.20')), false);
  assert.equal(rangesOverlap(range('0.0.0.0/0'), range('::/0')), false);
  const r = range('198.51.100.200-198.51.100.239');
  assert.equal(rangeContains(r, parseIp('198.51.100.200')!), true);
  assert.equal(rangeContains(r, parseIp('198.51.100.239')!), true);
  assert.equal(rangeContains(r, parseIp('198.51.100.240')!), false);
  assert.equal(rangeContains(r, parseIp('::c633:64c8')!), false);
});

test('GIVEN random pairs of ranges WHEN overlap is computed THEN it matches a brute-force check', () => {
  const small = fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }))
    .map(([a, b]): IpRange => ({ family: 4, first: BigInt(Math.min(a, b)), last: BigInt(Math.max(a, b)) }));
  fc.assert(fc.property(small, small, (a, b) => {
    let brute = false;
    for (let v = a.first; v <= a.last; v++) if (rangeContains(b, { family: 4, value: v })) brute = true;
    assert.equal(rangesOverlap(a, b), brute);
    assert.equal(rangesOverlap(a, b), rangesOverlap(b, a));
  }), { numRuns: 1000 });
});

test('GIVEN arbitrary strings WHEN parsed as pool entries THEN parsing never throws', () => {
  fc.assert(fc.property(fc.string({ maxLength: 60 }), (s) => { parsePoolEntry(s); }), { numRuns: 3000 });
});
