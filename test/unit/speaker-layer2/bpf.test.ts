import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arpRequestFilter, encodeBpf, neighborSolicitationFilter, runBpf } from '../../../src/speaker/layer2/bpf.js';
import { ARP_REPLY_KERNEL_A, ARP_REQUEST_B_FOR_A, NA_KERNEL_A, NS_B_FOR_A, RS_A } from './fixtures.js';

test('GIVEN the NS filter WHEN run over captured frames THEN only the Neighbor Solicitation passes', () => {
  const p = neighborSolicitationFilter();
  assert.ok(runBpf(p, NS_B_FOR_A) > 0);
  assert.equal(runBpf(p, NA_KERNEL_A), 0);
  assert.equal(runBpf(p, RS_A), 0);
  assert.equal(runBpf(p, NS_B_FOR_A.subarray(0, 30)), 0);
});

test('GIVEN the ARP filter WHEN run over captured frames THEN only requests pass', () => {
  const p = arpRequestFilter();
  assert.ok(runBpf(p, ARP_REQUEST_B_FOR_A) > 0);
  assert.equal(runBpf(p, ARP_REPLY_KERNEL_A), 0);
});

test('GIVEN a program WHEN encoded THEN it is struct sock_filter (u16 code, u8 jt, u8 jf, u32 k) in host order', () => {
  const le = encodeBpf([{ code: 0x15, jt: 1, jf: 2, k: 0x86dd }], 'LE');
  assert.deepEqual([...le], [0x15, 0x00, 0x01, 0x02, 0xdd, 0x86, 0x00, 0x00]);
  const be = encodeBpf([{ code: 0x15, jt: 1, jf: 2, k: 0x86dd }], 'BE');
  assert.deepEqual([...be], [0x00, 0x15, 0x01, 0x02, 0x00, 0x00, 0x86, 0xdd]);
  assert.equal(encodeBpf(neighborSolicitationFilter()).length, neighborSolicitationFilter().length * 8);
});
