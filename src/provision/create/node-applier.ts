/**
 * Applying one LB node's files over SSH, and undoing it. Two phases so that a node that cannot be
 * reached stops the run before anything is written anywhere: `prepare` (read the current state,
 * plan) on every node, then `apply` (back up, write in order, set sysctls); `rollback` restores
 * what `apply` changed, also after a partial failure.
 */
import { UserError } from '../../errors.js';
import type { NodeShell } from '../ssh/ssh-connection.js';
import { shQuote } from '../ssh/shell-quote.js';
import {
  BACKUP_ROOT,
  type DesiredFile,
  type NodePlan,
  SYSCTL_FILE,
  backupPath,
  parseRemoteState,
  planNode,
  rollbackSteps,
} from './node-plan.js';

/** A failed step on a node: which node, which step, what the node said. */
export class NodeStepError extends Error {
  constructor(
    readonly address: string,
    readonly step: string,
    readonly stderr: string,
    cause?: unknown,
  ) {
    super(`${address}: ${step}: ${stderr}`, { cause });
    this.name = 'NodeStepError';
  }
}

export interface NodeApplyOutcome {
  address: string;
  plan: NodePlan;
  /** Files written (created/updated), in order. */
  written: string[];
  sysctls: { key: string; from: string | undefined; to: string }[];
  backupDir?: string;
}

function procPath(key: string): string {
  return `/proc/sys/${key.replaceAll('.', '/')}`;
}

/**
 * The node's whole apply as one `sh -s` script, in plan order: back up the files about to be
 * replaced (0700/0600 under the backup dir), then each changed file atomically (temp file in its
 * directory, chmod, mv), setting the sysctls right after the sysctl file. Prints `STEP <name>`
 * before each step and `DONE <path>` / `SYSCTLS` after, so a failure names its step and rollback
 * knows what landed. Stops at the first error (set -e); a half-written temp file is removed.
 */
export function applyScript(plan: NodePlan, backupDir: string, sysctls: [string, string][]): string {
  const say = (text: string): string => `printf '%s\\n' ${shQuote(text)}`;
  const lines = ['set -e', 't=', `trap 'if [ -n "$t" ]; then rm -f "$t"; fi' EXIT`];
  const updates = plan.files.filter((f) => f.action === 'update');
  if (updates.length) {
    lines.push(say('STEP back up current files'));
    const cmds = [`umask 077`, `mkdir -p ${shQuote(backupDir)}`];
    for (const f of updates) {
      const b = backupPath(backupDir, f.path);
      cmds.push(`mkdir -p "$(dirname ${shQuote(b)})"`, `cp -p ${shQuote(f.path)} ${shQuote(b)}`);
    }
    lines.push(`(${cmds.join('; ')})`);
  }
  const setSysctls = (): void => {
    if (!sysctls.length) return;
    lines.push(say('STEP set sysctls'));
    for (const [k, v] of sysctls) lines.push(`echo ${shQuote(v)} > ${procPath(k)}`);
    lines.push(say('SYSCTLS'));
  };
  for (const f of plan.files) {
    if (f.action !== 'unchanged') {
      const p = shQuote(f.path);
      lines.push(
        say(`STEP write ${f.path}`),
        `d=$(dirname ${p}); mkdir -p "$d"; t=$(mktemp "$d/.bmlb-tmp.XXXXXX")`,
        `printf '%s' '${Buffer.from(f.content, 'utf8').toString('base64')}' | base64 -d > "$t"`,
        `chmod ${f.mode.toString(8).padStart(4, '0')} "$t"; mv -f "$t" ${p}; t=`,
        say(`DONE ${f.path}`),
      );
    }
    if (f.path === SYSCTL_FILE) setSysctls();
  }
  if (!plan.files.some((f) => f.path === SYSCTL_FILE)) setSysctls();
  return lines.join('\n') + '\n';
}

export class NodeApplier {
  readonly address: string;
  private readonly shell: NodeShell;
  private readonly desired: DesiredFile[];
  private readonly sysctls: Record<string, string>;
  private readonly backupDir: string;
  plan: NodePlan | undefined;
  private sysctlBefore: Record<string, string | undefined> = {};
  /** Changed files whose write was started (the last one may or may not have landed). */
  private writesStarted = 0;
  private sysctlsTouched = false;
  readonly written: string[] = [];
  readonly sysctlChanges: NodeApplyOutcome['sysctls'] = [];

  /** `backupRoot` is BACKUP_ROOT on nodes; tests pass a temp dir. */
  constructor(shell: NodeShell, desired: DesiredFile[], sysctls: Record<string, string>, runId: string, backupRoot: string = BACKUP_ROOT) {
    this.shell = shell;
    this.address = shell.address;
    this.desired = desired;
    this.sysctls = sysctls;
    this.backupDir = `${backupRoot}/${runId}`;
  }

  private async step<T>(step: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof NodeStepError) throw e;
      const msg = e instanceof UserError ? ((e.data as { stderr?: string } | undefined)?.stderr?.trim() || e.message) : e instanceof Error ? e.message : String(e);
      throw new NodeStepError(this.address, step, msg, e);
    }
  }

  /** Read the node's current files and sysctls; plan. Writes nothing. */
  async prepare(): Promise<NodePlan> {
    return await this.step('read current files', async () => {
      const paths = this.desired.map((d) => d.path);
      const script = paths
        .map((p) => {
          const q = shQuote(p);
          return `if [ -f ${q} ]; then printf '%s %s %s\\n' ${q} "$(stat -c %a ${q})" "$(sha256sum < ${q} | cut -d' ' -f1)"; else echo ${q} absent; fi`;
        })
        .concat(Object.keys(this.sysctls).map((k) => `printf 'sysctl %s=%s\\n' ${shQuote(k)} "$(cat ${procPath(k)} 2>/dev/null)"`))
        .join('\n');
      const r = await this.shell.run(script, { logAs: `read state of ${paths.join(' ')} and sysctls ${Object.keys(this.sysctls).join(' ')}` });
      if (r.code !== 0) throw new NodeStepError(this.address, 'read current files', r.stderr.trim() || `exit ${r.code}`);
      for (const line of r.stdout.split('\n')) {
        const m = /^sysctl ([^=]+)=(.*)$/.exec(line);
        if (m?.[1]) this.sysctlBefore[m[1]] = m[2]?.trim() === '' ? undefined : m[2]?.trim();
      }
      this.plan = planNode(this.address, this.desired, parseRemoteState(paths, r.stdout));
      return this.plan;
    });
  }

  /** Whether apply has anything to do (files or runtime sysctls). */
  get needsApply(): boolean {
    return (this.plan?.changed ?? true) || Object.entries(this.sysctls).some(([k, v]) => this.sysctlBefore[k] !== v);
  }

  async apply(onProgress?: (msg: string) => void): Promise<NodeApplyOutcome> {
    const plan = this.plan ?? (await this.prepare());
    const todo = Object.entries(this.sysctls).filter(([k, v]) => this.sysctlBefore[k] !== v);
    const script = applyScript(plan, this.backupDir, todo);
    const updates = plan.files.filter((f) => f.action === 'update');
    const summary = [
      ...(updates.length ? [`back up ${updates.map((u) => u.path).join(' ')} to ${this.backupDir}`] : []),
      ...plan.files.flatMap((f) => (f.action === 'unchanged' ? [] : [`write ${f.path} mode ${f.mode.toString(8).padStart(4, '0')} (sha256 ${f.sha256})`])),
      ...(todo.length ? [`sysctl ${todo.map(([k, v]) => `${k}=${v}`).join(' ')}`] : []),
    ];
    // One round trip per node: the script reports each step before it starts and each file once it is in place.
    let r;
    try {
      r = await this.shell.run('sh -s', { stdin: script, logAs: `apply: ${summary.join('; ')}` });
    } catch (e) {
      // The connection failed mid-way: assume every step may have happened (rollback is harmless for the rest).
      this.writesStarted = plan.files.filter((f) => f.action !== 'unchanged').length;
      this.sysctlsTouched = todo.length > 0;
      throw new NodeStepError(this.address, 'apply files', e instanceof Error ? e.message : String(e), e);
    }
    let lastStep = 'apply files';
    for (const line of r.stdout.split('\n')) {
      if (line.startsWith('STEP ')) {
        lastStep = line.slice(5);
        if (lastStep.startsWith('write ')) this.writesStarted++;
        if (lastStep === 'set sysctls') this.sysctlsTouched = true;
      } else if (line.startsWith('DONE ')) {
        const path = line.slice(5);
        this.written.push(path);
        const f = plan.files.find((x) => x.path === path);
        onProgress?.(`${f?.action === 'update' ? 'updated' : 'created'} ${path}`);
      } else if (line === 'SYSCTLS') {
        for (const [k, v] of todo) this.sysctlChanges.push({ key: k, from: this.sysctlBefore[k], to: v });
        onProgress?.(`set ${todo.map(([k, v]) => `${k}=${v}`).join(', ')}`);
      }
    }
    if (r.code !== 0) throw new NodeStepError(this.address, lastStep, r.stderr.trim() || `exit ${r.code}`);
    return { address: this.address, plan, written: [...this.written], sysctls: [...this.sysctlChanges], ...(updates.length ? { backupDir: this.backupDir } : {}) };
  }

  /**
   * Undo whatever apply changed, newest first. Every step is attempted even when an earlier one
   * fails (a node is never left with some files restored and others not tried); a file already
   * equal to its backup (its write never landed) is left alone. Throws NodeStepError naming every
   * step that failed if the node could not be fully restored.
   */
  async rollback(): Promise<{ restored: string[]; removed: string[] }> {
    const restored: string[] = [];
    const removed: string[] = [];
    const failed: string[] = [];
    if (!this.plan) return { restored, removed };
    const attempt = async (name: string, fn: () => Promise<void>): Promise<boolean> => {
      try {
        await this.step(name, fn);
        return true;
      } catch (e) {
        failed.push(`${name}: ${e instanceof NodeStepError ? e.stderr : (e as Error).message}`);
        return false;
      }
    };
    for (const s of rollbackSteps(this.plan, this.backupDir, this.writesStarted)) {
      if (s.kind === 'restore') {
        const ok = await attempt(`restore ${s.path}`, async () => {
          const p = shQuote(s.path);
          const from = shQuote(s.from);
          const r = await this.shell.run(`set -e; if cmp -s ${from} ${p}; then exit 0; fi; t=$(mktemp ${p}.bmlb-rb.XXXXXX); cp -p ${from} "$t"; mv -f "$t" ${p}`, { logAs: `restore ${s.path} from ${s.from}` });
          if (r.code !== 0) throw new NodeStepError(this.address, `restore ${s.path}`, r.stderr.trim() || `exit ${r.code}`);
        });
        if (ok) restored.push(s.path);
      } else {
        const ok = await attempt(`remove ${s.path}`, async () => {
          const r = await this.shell.run(`rm -f ${shQuote(s.path)}`, { logAs: `remove ${s.path} (new in this run)` });
          if (r.code !== 0) throw new NodeStepError(this.address, `remove ${s.path}`, r.stderr.trim() || `exit ${r.code}`);
        });
        if (ok) removed.push(s.path);
      }
    }
    if (this.sysctlsTouched) {
      const back = Object.keys(this.sysctls).filter((k) => this.sysctlBefore[k] !== undefined);
      if (back.length) {
        await attempt('restore sysctls', async () => {
          const r = await this.shell.run(back.map((k) => `echo ${shQuote(this.sysctlBefore[k] ?? '')} > ${procPath(k)}`).join(' && '));
          if (r.code !== 0) throw new NodeStepError(this.address, 'restore sysctls', r.stderr.trim() || `exit ${r.code}`);
        });
      }
    }
    if (failed.length) throw new NodeStepError(this.address, 'rollback', failed.join('; '));
    return { restored, removed };
  }
}
