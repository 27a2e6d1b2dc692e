/** Human-readable preflight output and the error for a failed preflight. Pure. */
import { UserError } from '../../errors.js';
import type { CheckStatus, PreflightResult } from './checks.js';

const MARK: Record<CheckStatus, string> = { pass: 'ok  ', warn: 'WARN', fail: 'FAIL' };

export function formatPreflight(r: PreflightResult, logDir?: string): string {
  const lines: string[] = [];
  for (const n of r.nodes) {
    lines.push(`${n.address}${n.hostname ? ` (${n.hostname})` : ''}`);
    const width = Math.max(...n.checks.map((c) => c.name.length));
    for (const c of n.checks) {
      lines.push(`  ${MARK[c.status]} ${c.name.padEnd(width)}  ${c.message}`);
      if (c.fix && c.status !== 'pass') lines.push(`       ${' '.repeat(width)}  fix: ${c.fix}`);
    }
  }
  const counts = { pass: 0, warn: 0, fail: 0 };
  for (const n of r.nodes) for (const c of n.checks) counts[c.status]++;
  lines.push(`preflight ${r.ok ? 'passed' : 'FAILED'}: ${counts.pass} ok, ${counts.warn} warnings, ${counts.fail} failures${logDir ? ` (log: ${logDir})` : ''}`);
  return lines.join('\n');
}

export function preflightFailedError(r: PreflightResult, cluster: string): UserError {
  const failed = r.nodes.flatMap((n) => n.checks.filter((c) => c.status === 'fail').map((c) => ({ node: n.address, check: c.name, message: c.message, fix: c.fix })));
  const first = failed[0];
  return new UserError(`preflight failed: ${failed.length} check${failed.length === 1 ? '' : 's'} failed${first ? `; first: ${first.node} ${first.check}: ${first.message}` : ''}`, {
    code: 'PreflightFailed',
    exitCode: 1,
    data: r,
    suggestions: [
      ...new Set(failed.flatMap((f) => (f.fix ? [f.fix] : []))),
      `Rerun \`bmlb check preflight -c ${cluster}\` after fixing them.`,
    ].slice(0, 6),
  });
}
