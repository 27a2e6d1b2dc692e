import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isUserError } from '../../../src/errors.js';
import { systemLabIo } from '../../../src/lab/lab-io.js';
import { labLockPath, withLabLock } from '../../../src/lab/lab-lock.js';

describe('lab lock', () => {
  const base = mkdtempSync(join(tmpdir(), 'bmlbt-lab-lock-'));
  after(() => rmSync(base, { recursive: true, force: true }));

  it('GIVEN one command holds the lock THEN a second one for the same lab is refused with LabBusy, another lab is not', async () => {
    const lock = labLockPath('a', base);
    await withLabLock(systemLabIo, 'a', base, async () => {
      assert.ok(existsSync(lock));
      await assert.rejects(withLabLock(systemLabIo, 'a', base, async () => 'never'), (e) => isUserError(e) && e.code === 'LabBusy');
      assert.equal(await withLabLock(systemLabIo, 'b', base, async () => 'b ran'), 'b ran');
    });
    assert.equal(existsSync(lock), false, 'released');
  });

  it('GIVEN a lock left by a process that is gone THEN it is taken over, and released even when the work fails', async () => {
    const lock = labLockPath('c', base);
    writeFileSync(lock, JSON.stringify({ pid: process.pid, startTime: 'an-earlier-process-with-this-pid' }));
    await assert.rejects(withLabLock(systemLabIo, 'c', base, async () => { throw new Error('boom'); }), /boom/);
    assert.equal(existsSync(lock), false);
  });
});
