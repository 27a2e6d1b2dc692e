/**
 * One `lab up` or `lab down` at a time per lab name: a lock file next to the state directory
 * holding the PID and start time of its holder. A lock whose holder is gone is taken over.
 */
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import type { LabIo, ProcessIdentity } from './lab-io.js';
import { isAlive } from './lab-io.js';
import { LAB_BASE_DIR } from './lab-layout.js';

export function labLockPath(name: string, baseDir = LAB_BASE_DIR): string {
  return join(baseDir, `.${name}.lock`);
}

function tryCreate(file: string, me: ProcessIdentity): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new UserError(`cannot create the lab lock ${file}: ${(e as Error).message}`, {
        code: 'LabNeedsRoot',
        suggestions: ['Run the lab commands as root, e.g. `sudo ./bin/run.js lab up`.'],
      });
    }
    throw e;
  }
  writeSync(fd, JSON.stringify(me));
  closeSync(fd);
  return true;
}

export async function withLabLock<T>(io: LabIo, name: string, baseDir: string | undefined, work: () => Promise<T>): Promise<T> {
  const file = labLockPath(name, baseDir);
  try {
    mkdirSync(join(file, '..'), { recursive: true });
  } catch (e) {
    throw new UserError(`cannot create ${join(file, '..')}: ${(e as Error).message}`, {
      code: 'LabNeedsRoot',
      suggestions: ['Run the lab commands as root, e.g. `sudo ./bin/run.js lab up`.'],
    });
  }
  const me: ProcessIdentity = { pid: process.pid, startTime: io.startTimeOf(process.pid) ?? '' };
  if (!tryCreate(file, me)) {
    let holder: ProcessIdentity | undefined;
    try {
      holder = JSON.parse(readFileSync(file, 'utf8')) as ProcessIdentity;
    } catch {
      holder = undefined; // half-written or unreadable: treat as stale
    }
    if (holder && isAlive(io, holder)) {
      throw new UserError(`lab ${name} is busy: process ${holder.pid} is bringing it up or down`, {
        code: 'LabBusy',
        data: { holder, lockFile: file },
        suggestions: ['Wait for that command to finish, then run yours again.'],
      });
    }
    rmSync(file, { force: true });
    if (!tryCreate(file, me)) {
      throw new UserError(`lab ${name} is busy: another command took its lock just now`, {
        code: 'LabBusy',
        data: { lockFile: file },
        suggestions: ['Wait for that command to finish, then run yours again.'],
      });
    }
  }
  try {
    return await work();
  } finally {
    rmSync(file, { force: true });
  }
}
