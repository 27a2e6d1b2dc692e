/** Builds the packet addon once if this checkout has no build yet (the e2e tests need it). */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findPacketAddon } from '../../../src/speaker/layer2/packet-socket.js';

export function ensurePacketAddon(): string {
  const found = findPacketAddon();
  if (found) return found;
  const script = fileURLToPath(new URL('../../../native/build.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
  const built = findPacketAddon();
  if (r.status !== 0 || !built) throw new Error(`building the packet addon failed:\n${r.stdout}\n${r.stderr}`);
  return built;
}
