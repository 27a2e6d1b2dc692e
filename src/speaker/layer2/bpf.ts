/**
 * Classic BPF programs (struct sock_filter arrays) for the packet sockets, built here so the native
 * addon stays protocol-agnostic. Offsets are from the start of the Ethernet header (SOCK_RAW).
 */
import { endianness } from 'node:os';

export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// Opcodes (linux/bpf_common.h).
const BPF_LD_B_ABS = 0x30; // BPF_LD | BPF_B | BPF_ABS
const BPF_LD_H_ABS = 0x28; // BPF_LD | BPF_H | BPF_ABS
const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_RET_K = 0x06; // BPF_RET | BPF_K

const ACCEPT = 0x40000; // snap length: whole frame
const DROP = 0;

/** ICMPv6 (next header 58, no extension headers) Neighbor Solicitations (type 135) only. */
export function neighborSolicitationFilter(): BpfInstruction[] {
  return [
    { code: BPF_LD_B_ABS, jt: 0, jf: 0, k: 14 + 6 }, // IPv6 next header
    { code: BPF_JEQ_K, jt: 0, jf: 3, k: 58 },
    { code: BPF_LD_B_ABS, jt: 0, jf: 0, k: 14 + 40 }, // ICMPv6 type
    { code: BPF_JEQ_K, jt: 0, jf: 1, k: 135 },
    { code: BPF_RET_K, jt: 0, jf: 0, k: ACCEPT },
    { code: BPF_RET_K, jt: 0, jf: 0, k: DROP },
  ];
}

/** ARP requests (operation 1) only; replies and others never wake the speaker. */
export function arpRequestFilter(): BpfInstruction[] {
  return [
    { code: BPF_LD_H_ABS, jt: 0, jf: 0, k: 14 + 6 }, // ARP operation
    { code: BPF_JEQ_K, jt: 0, jf: 1, k: 1 },
    { code: BPF_RET_K, jt: 0, jf: 0, k: ACCEPT },
    { code: BPF_RET_K, jt: 0, jf: 0, k: DROP },
  ];
}

/** struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; } in host byte order. */
export function encodeBpf(program: BpfInstruction[], order: 'LE' | 'BE' = endianness()): Buffer {
  const b = Buffer.alloc(program.length * 8);
  program.forEach((ins, i) => {
    const o = i * 8;
    if (order === 'LE') {
      b.writeUInt16LE(ins.code, o);
      b.writeUInt32LE(ins.k >>> 0, o + 4);
    } else {
      b.writeUInt16BE(ins.code, o);
      b.writeUInt32BE(ins.k >>> 0, o + 4);
    }
    b[o + 2] = ins.jt;
    b[o + 3] = ins.jf;
  });
  return b;
}

/** Runs a program over a frame as the kernel would (the subset of opcodes above); for unit tests. */
export function runBpf(program: BpfInstruction[], frame: Buffer): number {
  let a = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const ins = program[pc];
    if (!ins) return DROP;
    switch (ins.code) {
      case BPF_LD_B_ABS:
        if (ins.k >= frame.length) return DROP;
        a = frame[ins.k] ?? 0;
        break;
      case BPF_LD_H_ABS:
        if (ins.k + 2 > frame.length) return DROP;
        a = frame.readUInt16BE(ins.k);
        break;
      case BPF_JEQ_K:
        pc += a === ins.k ? ins.jt : ins.jf;
        break;
      case BPF_RET_K:
        return ins.k;
      default:
        throw new Error(`unsupported BPF opcode 0x${ins.code.toString(16)}`);
    }
  }
  return DROP;
}
