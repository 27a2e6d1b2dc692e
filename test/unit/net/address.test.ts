import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalIp, formatIp, parseIp, sameIp } from '../../../src/net/address.js';

test('GIVEN valid IPv4 addresses WHEN parsed THEN the value is the 32-bit number', () => {
  assert.deepEqual(parseIp('0.0.0.0'), { family: 4, value: 0n });
  assert.deepEqual(parseIp('255.255.255.255'), { family: 4, value: 0xffffffffn });
  assert.deepEqual(parseIp('198.51.100.10'), { family: 4, value: (198n << 24n) | (51n << 16n) | (100n << 8n) | 10n });
});

test('GIVEN malformed or shorthand IPv4 WHEN parsed THEN it is refused', () => {
  for (const s of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.04', '1.2.3.-1', ' 1.2.3.4', '1.2.3.4 ',
    '1..2.3', '0x1.2.3.4', '1.2.3.4/32', '1.2.3.4-1.2.3.5', 'a.b.c.d', '10.1', '1.2.3.1000']) {
    assert.equal(parseIp(s), undefined, s);
  }
});

test('GIVEN IPv6 forms WHEN parsed THEN :: expands and embedded IPv4 is accepted', () => {
  assert.deepEqual(parseIp('::'), { family: 6, value: 0n });
  assert.deepEqual(parseIp('::1'), { family: 6, value: 1n });
  assert.deepEqual(parseIp('1::'), { family: 6, value: 1n << 112n });
  assert.deepEqual(parseIp('2001:db8::1'), { family: 6, value: (0x2001n << 112n) | (0xdb8n << 96n) | 1n });
  assert.deepEqual(parseIp('2001:DB8:0:0:0:0:0:1'), parseIp('2001:db8::1'));
  assert.deepEqual(parseIp('::ffff:198.51.100.1'), { family: 6, value: (0xffffn << 32n) | 0xc6336401n });
  assert.deepEqual(parseIp('64:ff9b::198.51.100.1'), { family: 6, value: (0x64n << 112n) | (0xff9bn << 96n) | 0xc6336401n });
  assert.deepEqual(parseIp('1:2:3:4:5:6:198.51.100.1'), parseIp('1:2:3:4:5:6:c633:6401'));
});

test('GIVEN malformed IPv6 WHEN parsed THEN it is refused', () => {
  for (const s of [':', ':::', '1:::2', '1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8', '12345::', 'g::1', 'fe80::1%eth0', '::ffff:1.2.3', '::ffff:256.1.1.1', '1.2.3.4::',
    '1:2:3:4:5:6:7:1.2.3.4', ':1::', '1:', '[::1]', '2001:db8::/64']) {
    assert.equal(parseIp(s), undefined, s);
  }
});

test('GIVEN IPv6 values WHEN formatted THEN the output is RFC 5952 canonical', () => {
  const cases: [string, string][] = [
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first of two equal runs
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not shortened
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['2001:db8:0:0:0:1:0:0', '2001:db8::1:0:0'],
    ['0:0:0:0:0:ffff:c633:6401', '::ffff:198.51.100.1'],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
});

test('GIVEN any address WHEN formatted and parsed again THEN the value survives', () => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => {
    const text = formatIp({ family: 6, value: v });
    assert.deepEqual(parseIp(text), { family: 6, value: v });
    assert.equal(canonicalIp(text), text);
  }), { numRuns: 2000 });
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 0xffffffffn }), (v) => {
    assert.deepEqual(parseIp(formatIp({ family: 4, value: v })), { family: 4, value: v });
  }), { numRuns: 1000 });
});

test('GIVEN fast-check IPv6 strings WHEN parsed THEN every one is accepted', () => {
  fc.assert(fc.property(fc.ipV6(), (s) => { assert.notEqual(parseIp(s), undefined, s); }), { numRuns: 2000 });
  fc.assert(fc.property(fc.ipV4(), (s) => { assert.notEqual(parseIp(s), undefined, s); }), { numRuns: 500 });
});

test('GIVEN arbitrary strings WHEN parsed THEN parsing never throws', () => {
  fc.assert(fc.property(fc.string({ maxLength: 50 }), (s) => { parseIp(s); }), { numRuns: 3000 });
});

test('GIVEN two spellings of one address WHEN compared THEN sameIp is true, across families false', () => {
  assert.equal(sameIp('2001:db8::1', '2001:DB8:0::0:1'), true);
  assert.equal(sameIp('198.51.100.1', '198.51.100.1'), true);
  assert.equal(sameIp('0.0.0.1', '::1'), false);
  assert.equal(sameIp('x', 'x'), false);
});
