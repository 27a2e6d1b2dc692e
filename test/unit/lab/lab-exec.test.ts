import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUserError } from '../../../src/errors.js';
import { targetArgv } from '../../../src/lab/lab-exec.js';

const lab = {
  name: 'lab',
  nodes: [{ name: 'cp1', pid: 4242 }, { name: 'lb1', pid: 0 }],
  namespaces: { segment: 'bmlb-lab-seg', admin: 'bmlb-lab-admin', client: 'bmlb-lab-client', router: 'bmlb-lab-router' },
};

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isUserError(e) ? e.code : 'not a UserError';
  }
  return undefined;
}

describe('lab exec targets', () => {
  it('GIVEN a node THEN the command enters its network, mount and UTS namespaces through the holder PID', () => {
    assert.deepEqual(targetArgv(lab, 'cp1', ['hostname']), ['nsenter', '--target', '4242', '--net', '--mount', '--uts', '--', 'hostname']);
  });
  it('GIVEN admin, client, router or segment THEN the command runs with ip netns exec in that namespace', () => {
    assert.deepEqual(targetArgv(lab, 'admin', ['ssh', '-o', 'A=b']), ['ip', 'netns', 'exec', 'bmlb-lab-admin', 'ssh', '-o', 'A=b']);
    assert.deepEqual(targetArgv(lab, 'segment', ['bridge', 'fdb']).slice(0, 4), ['ip', 'netns', 'exec', 'bmlb-lab-seg']);
  });
  it('GIVEN an unknown target, a node without holder, or no command THEN a UserError says what to do', () => {
    assert.equal(codeOf(() => targetArgv(lab, 'lb9', ['true'])), 'LabTargetUnknown');
    assert.equal(codeOf(() => targetArgv(lab, 'lb1', ['true'])), 'LabNodeNotRunning');
    assert.equal(codeOf(() => targetArgv(lab, 'admin', [])), 'LabExecNoCommand');
  });
});
