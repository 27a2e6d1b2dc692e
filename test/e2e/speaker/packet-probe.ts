/**
 * Exercises the packet addon directly inside a test namespace and prints one JSON report:
 * interface info, argument checks, a frame sent on `lo` coming back through the receive path
 * (outgoing copy dropped, BPF filter applied), membership calls, close twice.
 * Run: ip netns exec NS node --import tsx packet-probe.ts
 */
import { createRequire } from 'node:module';
import { findPacketAddon } from '../../../src/speaker/layer2/packet-socket.js';
import { encodeBpf, type BpfInstruction } from '../../../src/speaker/layer2/bpf.js';

const require = createRequire(import.meta.url);
interface Addon {
  interfaceInfo(n: string): { index: number; mac: Buffer; flags: number; hwType: number };
  open(n: string, t: number, f: Buffer | null, cb: (frame: Buffer, type: number) => void): object;
  send(h: object, f: Buffer): number;
  addMembership(h: object, m: Buffer): void;
  dropMembership(h: object, m: Buffer): void;
  close(h: object): void;
}
const addon = require(findPacketAddon() as string) as Addon;
const report: Record<string, unknown> = {};
const errorOf = (f: () => unknown): string => {
  try { f(); return 'no error'; } catch (e) { return `${(e as Error).name}:${(e as { code?: string }).code ?? ''}:${(e as Error).message}`; }
};

const lo = addon.interfaceInfo('lo');
report.lo = { index: lo.index, mac: lo.mac.toString('hex'), up: (lo.flags & 1) === 1, hwType: lo.hwType };
report.noSuchInterface = errorOf(() => addon.interfaceInfo('bmlbt-nosuch0'));
report.nameTooLong = errorOf(() => addon.interfaceInfo('x'.repeat(20)));
report.badFilter = errorOf(() => addon.open('lo', 0x88b5, Buffer.alloc(5), () => {}));
report.badCallback = errorOf(() => addon.open('lo', 0x88b5, null, 42 as never));

const ETHERTYPE = 0x88b5; // IEEE 802 local experimental
// Accept frames whose first payload byte is 0x42.
const only42: BpfInstruction[] = [
  { code: 0x30, jt: 0, jf: 0, k: 14 },
  { code: 0x15, jt: 0, jf: 1, k: 0x42 },
  { code: 0x06, jt: 0, jf: 0, k: 0x40000 },
  { code: 0x06, jt: 0, jf: 0, k: 0 },
];
const received: { first: number; len: number; type: number }[] = [];
const h = addon.open('lo', ETHERTYPE, encodeBpf(only42), (frame, type) => received.push({ first: frame[14] ?? -1, len: frame.length, type }));
const frame = (first: number): Buffer => {
  const f = Buffer.alloc(60);
  f.writeUInt16BE(ETHERTYPE, 12);
  f[14] = first;
  return f;
};
report.sent = [addon.send(h, frame(0x42)), addon.send(h, frame(0x41)), addon.send(h, frame(0x42))];
report.shortFrame = errorOf(() => addon.send(h, Buffer.alloc(10)));
report.addMembership = errorOf(() => addon.addMembership(h, Buffer.from('3333ff000200', 'hex')));
report.dropMembership = errorOf(() => addon.dropMembership(h, Buffer.from('3333ff000200', 'hex')));
report.badMembership = errorOf(() => addon.addMembership(h, Buffer.alloc(3)));
await new Promise((r) => setTimeout(r, 300));
report.received = received;
addon.close(h);
report.closeTwice = errorOf(() => addon.close(h));
report.sendAfterClose = errorOf(() => addon.send(h, frame(0x42)));
report.notAHandle = errorOf(() => addon.send({}, frame(0x42)));
process.stdout.write(`${JSON.stringify(report)}\n`);
