/**
 * The IO edge of layer 2: the native addon (native/packet.c) behind a small interface, so the
 * announcer takes a `PacketIo` and tests or other platforms can pass their own.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../errors.js';

export interface InterfaceInfo {
  name: string;
  index: number;
  mac: Buffer;
  /** IFF_UP */
  up: boolean;
}

export interface PacketSocket {
  send(frame: Buffer): void;
  /** Receive frames sent to a link-layer multicast group (e.g. an IPv6 solicited-node group). */
  addMembership(mac: Buffer): void;
  dropMembership(mac: Buffer): void;
  close(): void;
}

export interface PacketIo {
  interfaceInfo(name: string): InterfaceInfo;
  /** A raw socket on `name` for one ethertype; `filter` is an encoded classic BPF program. */
  open(name: string, ethertype: number, filter: Buffer | null, onFrame: (frame: Buffer) => void): PacketSocket;
}

interface NativeAddon {
  interfaceInfo(name: string): { index: number; mac: Buffer; flags: number; hwType: number };
  open(name: string, ethertype: number, filter: Buffer | null, onFrame: (frame: Buffer, pktType: number) => void): object;
  send(handle: object, frame: Buffer): number;
  addMembership(handle: object, mac: Buffer): void;
  dropMembership(handle: object, mac: Buffer): void;
  close(handle: object): void;
}

const ADDON_RELATIVE = join('native', 'build', 'Release', 'bmlb_packet.node');
const IFF_UP = 0x1;

/** Where the addon is: $BMLB_PACKET_ADDON, else native/build/Release under the package root. */
export function findPacketAddon(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.BMLB_PACKET_ADDON) return env.BMLB_PACKET_ADDON;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, ADDON_RELATIVE);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

function packetError(e: unknown, what: string): UserError {
  const err = e as { code?: string; message?: string };
  if (err.code === 'EPERM') {
    return new UserError(`${what}: raw packet sockets need CAP_NET_RAW (${err.message ?? ''})`, {
      code: 'PacketPermission',
      cause: e,
      suggestions: ['Run the speaker as root or with the NET_RAW capability (the DaemonSet grants it).'],
    });
  }
  return new UserError(`${what}: ${err.message ?? String(e)}`, {
    code: 'PacketSocketFailed',
    cause: e,
    suggestions: ['Check that the interface exists in this network namespace (`ip link`).'],
  });
}

/** Loads the addon; a missing build is a UserError that says how to build it. */
export function loadPacketIo(path: string | undefined = findPacketAddon()): PacketIo {
  if (!path) {
    throw new UserError('the packet addon (native/build/Release/bmlb_packet.node) is not built', {
      code: 'PacketAddonMissing',
      suggestions: ['Build it once with `node native/build.mjs` (needs a C compiler and the Node headers).'],
    });
  }
  if (!existsSync(path)) {
    throw new UserError(`the packet addon ${path} does not exist`, {
      code: 'PacketAddonMissing',
      suggestions: ['Build it with `node native/build.mjs`, or point BMLB_PACKET_ADDON at the built bmlb_packet.node.'],
    });
  }
  const require = createRequire(import.meta.url);
  let addon: NativeAddon;
  try {
    addon = require(path) as NativeAddon;
  } catch (e) {
    throw new UserError(`the packet addon ${path} cannot be loaded: ${(e as Error).message.split('\n')[0]}`, {
      code: 'PacketAddonBroken',
      cause: e,
      suggestions: ['Rebuild it for this Node.js and platform with `node native/build.mjs`.'],
    });
  }
  return {
    interfaceInfo(name) {
      try {
        const i = addon.interfaceInfo(name);
        return { name, index: i.index, mac: i.mac, up: (i.flags & IFF_UP) !== 0 };
      } catch (e) {
        throw packetError(e, `interface ${name}`);
      }
    },
    open(name, ethertype, filter, onFrame) {
      let handle: object;
      try {
        handle = addon.open(name, ethertype, filter, (frame) => onFrame(frame));
      } catch (e) {
        throw packetError(e, `packet socket on ${name}`);
      }
      let closed = false;
      return {
        send: (frame) => { addon.send(handle, frame); },
        addMembership: (mac) => addon.addMembership(handle, mac),
        dropMembership: (mac) => addon.dropMembership(handle, mac),
        close: () => {
          if (closed) return;
          closed = true;
          addon.close(handle);
        },
      };
    },
  };
}
