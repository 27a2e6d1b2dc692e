/**
 * Teardown decisions with a scripted LabIo: which PIDs get signalled (recorded ones only while they
 * are the same process; anything in the lab's own namespaces), which namespaces are deleted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { labDown } from '../../../src/lab/lab-down.js';
import type { LabIo, RunResult } from '../../../src/lab/lab-io.js';
import { planLabLayout } from '../../../src/lab/lab-layout.js';
import { staleOwnedLabs, statusFromState, writeLabState } from '../../../src/lab/lab-state.js';
import type { LabState } from '../../../src/lab/lab-state.js';

class FakeIo implements LabIo {
  /** pid → start time of the processes that exist. */
  procs = new Map<number, string>();
  netns = new Map<string, number[]>();
  signals: [number, string][] = [];
  commands: string[][] = [];
  async run(argv: string[]): Promise<RunResult> {
    this.commands.push(argv);
    const ok = (stdout: string): RunResult => ({ code: 0, stdout, stderr: '' });
    if (argv.join(' ') === 'ip -j netns list') return ok(JSON.stringify([...this.netns.keys()].map((name) => ({ name }))));
    if (argv[1] === 'netns' && argv[2] === 'pids') return ok((this.netns.get(argv[3]!) ?? []).join('\n'));
    if (argv[1] === 'netns' && argv[2] === 'delete') {
      this.netns.delete(argv[3]!);
      return ok('');
    }
    return { code: 1, stdout: '', stderr: `unexpected ${argv.join(' ')}` };
  }
  async startDaemon(): Promise<never> {
    throw new Error('not used');
  }
  startTimeOf(pid: number): string | undefined {
    return this.procs.get(pid);
  }
  signal(pid: number, sig: NodeJS.Signals): boolean {
    this.signals.push([pid, sig]);
    if (!this.procs.has(pid)) return false;
    this.procs.delete(pid); // every process obeys TERM at once
    for (const pids of this.netns.values()) pids.splice(0, pids.length, ...pids.filter((p) => p !== pid));
    return true;
  }
  async sleep(): Promise<void> {}
}

const base = mkdtempSync(join(tmpdir(), 'bmlbt-lab-unit-'));
after(() => rmSync(base, { recursive: true, force: true }));

function state(name: string, processes: LabState['processes']): LabState {
  return { version: 1, name, options: { name, nodes: 2, lbNodes: 1, ipv6: false }, phase: 'ready', createdAt: '', holders: { cp1: processes[0]! }, processes };
}

describe('lab down', () => {
  it('GIVEN a recorded PID now used by another process THEN it is never signalled; live recorded ones and namespace members are', async () => {
    const io = new FakeIo();
    io.procs.set(100, 'st100').set(101, 'reused').set(300, 'st300').set(999, 'other-lab');
    io.netns.set('bmlb-d1-cp1', [300]).set('bmlb-d1-seg', []).set('bmlb-d1-x-seg', [999]).set('unrelated', [999]);
    const layout = planLabLayout({ name: 'd1', nodes: 2, lbNodes: 1, ipv6: false, baseDir: base });
    writeLabState(layout.paths.stateFile, state('d1', [
      { what: 'node-holder cp1', pid: 100, startTime: 'st100' },
      { what: 'sshd cp1', pid: 101, startTime: 'st101' },
    ]));
    const r = await labDown(io, { name: 'd1', baseDir: base });
    const signalled = io.signals.filter(([, s]) => s === 'SIGTERM').map(([p]) => p).sort();
    assert.deepEqual(signalled, [100, 300]);
    assert.ok(!io.signals.some(([p]) => p === 101 || p === 999));
    assert.deepEqual(r.namespacesDeleted.sort(), ['bmlb-d1-cp1', 'bmlb-d1-seg']);
    assert.deepEqual([...io.netns.keys()].sort(), ['bmlb-d1-x-seg', 'unrelated']);
    assert.equal(r.stateDirRemoved, true);
  });

  it('GIVEN nothing of the lab THEN down reports it did not exist and does nothing', async () => {
    const io = new FakeIo();
    const r = await labDown(io, { name: 'd2', baseDir: base });
    assert.deepEqual([r.existed, r.processesEnded, r.namespacesDeleted], [false, 0, []]);
    assert.deepEqual(io.signals, []);
  });
});

describe('lab status', () => {
  it('GIVEN a recorded process whose PID now belongs to another process THEN it is reported dead and the lab unhealthy', () => {
    const io = new FakeIo();
    io.procs.set(100, 'st100').set(101, 'reused');
    const layout = planLabLayout({ name: 's1', nodes: 2, lbNodes: 1, ipv6: false, baseDir: base });
    const s = statusFromState(layout, state('s1', [
      { what: 'node-holder cp1', pid: 100, startTime: 'st100' },
      { what: 'sshd cp1', pid: 101, startTime: 'st101' },
    ]), io);
    assert.deepEqual(s.processes, [{ what: 'node-holder cp1', pid: 100, alive: true }, { what: 'sshd cp1', pid: 101, alive: false }]);
    assert.equal(s.healthy, false);
    assert.equal(s.nodes[0]!.pid, 100);
    assert.equal(s.nodes[1]!.pid, 0);
  });
});

describe('stale test labs', () => {
  it('GIVEN labs owned by a live process, by a dead one, and by nobody THEN only the dead owner\'s lab is stale', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bmlbt-lab-stale-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const io = new FakeIo();
    io.procs.set(7, 'alive-owner');
    const put = (name: string, owner?: { pid: number; startTime: string }) =>
      writeLabState(planLabLayout({ name, nodes: 2, lbNodes: 1, ipv6: false, baseDir: dir }).paths.stateFile, { ...state(name, []), ...(owner ? { owner } : {}) });
    put('live', { pid: 7, startTime: 'alive-owner' });
    put('dead', { pid: 8, startTime: 'gone' });
    put('reused', { pid: 7, startTime: 'an-earlier-process' });
    put('cli');
    assert.deepEqual(staleOwnedLabs(io, dir).sort(), ['dead', 'reused']);
  });
});
