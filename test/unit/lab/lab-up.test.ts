import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { daemonEnv, labComponents } from '../../../src/lab/lab-up.js';

describe('lab up helpers', () => {
  it('GIVEN proxy variables and the test runner marker THEN the daemons get neither, and everything else', () => {
    const env = daemonEnv({ PATH: '/bin', HTTPS_PROXY: 'http://p:1', http_proxy: 'x', NO_PROXY: 'y', ALL_PROXY: 'z', NODE_TEST_CONTEXT: 'child-v8', BMLB_DEBUG: '1' });
    assert.deepEqual(env, { PATH: '/bin', BMLB_DEBUG: '1' });
  });

  describe('GIVEN a checkout', () => {
    const root = mkdtempSync(join(tmpdir(), 'bmlbt-lab-root-'));
    after(() => rmSync(root, { recursive: true, force: true }));

    it('WHEN the stand-in commands are not built THEN both are named as missing; once built, none', () => {
      assert.deepEqual(labComponents(root), { bmlbBin: join(root, 'bin', 'run.js'), missing: ['bmlb lab apiserver', 'bmlb lab node-agent'] });
      mkdirSync(join(root, 'dist', 'src', 'commands', 'lab'), { recursive: true });
      writeFileSync(join(root, 'dist', 'src', 'commands', 'lab', 'apiserver.js'), '');
      assert.deepEqual(labComponents(root).missing, ['bmlb lab node-agent']);
      writeFileSync(join(root, 'dist', 'src', 'commands', 'lab', 'node-agent.js'), '');
      assert.deepEqual(labComponents(root).missing, []);
    });
  });
});

describe('settleAll', () => {
  it('GIVEN one task fails early and another is still running THEN the failure surfaces only after the other settled', async () => {
    const { settleAll } = await import('../../../src/lab/lab-io.js');
    let slowDone = false;
    const slow = new Promise<string>((r) => setTimeout(() => { slowDone = true; r('slow'); }, 30));
    await assert.rejects(settleAll<unknown>([Promise.reject(new Error('early')), slow]), /early/);
    assert.equal(slowDone, true);
    assert.deepEqual(await settleAll([Promise.resolve(1), Promise.resolve(2)]), [1, 2]);
  });
});
