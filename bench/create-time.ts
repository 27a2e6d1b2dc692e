/**
 * `bmlb create cluster` wall time for 3 and for 12 LB nodes, a fresh lab each (root, network
 * namespaces). The CLI runs from the TypeScript sources (tsx) in the lab's admin namespace, with
 * `--parallel` equal to the number of LB nodes so every node is configured at once.
 *
 *   npm run bench -- create-time
 *   BENCH_LB_NODES=3,12 npm run bench -- create-time      (the default sizes)
 *
 * Prints the wall time measured around the CLI (including tsx start-up), the CLI's own per-phase
 * durations (`durationsMs` in its --json result), and the load average before and after.
 * Not a test: nothing fails on speed.
 */
import { startTestLab, type TestLab } from '../test/helpers/lab.js';
import { bmlbCli, log, machineInfo, scratch } from './lab-probe.js';

const SIZES = (process.env.BENCH_LB_NODES ?? '3,12').split(',').map((x) => Number(x.trim())).filter((n) => Number.isInteger(n) && n > 0);

interface Row {
  lbNodes: number;
  labUpMs: number;
  wallMs: number;
  phases: Record<string, number>;
  loadBefore: string;
  loadAfter: string;
}

const info = machineInfo();
log(`create-time: LB node counts ${SIZES.join(', ')}; ${info.nproc} CPUs, ${info.memGiB} GiB, kernel ${info.kernel}, load ${info.loadavg}`);
const rows: Row[] = [];
let exitCode = 0;
for (const n of SIZES) {
  const s = scratch(`ct${n}`);
  let lab: TestLab | undefined;
  try {
    const u0 = Date.now();
    lab = await startTestLab({ tag: `bct${n}`, nodes: n + 1, lbNodes: n });
    const labUpMs = Date.now() - u0;
    log(`lab ${lab.name} up with ${n} LB nodes in ${(labUpMs / 1000).toFixed(1)} s`);
    const loadBefore = machineInfo().loadavg;
    const r = await bmlbCli(lab, s, ['create/cluster', '-c', lab.status.clusterFile, '--parallel', String(n), '--wait-timeout', '300']);
    if (r.code !== 0) throw new Error(`create cluster (${n} LB nodes) exited ${r.code}: ${JSON.stringify(r.json)?.slice(0, 2000)} ${r.stderr.slice(-2000)}`);
    const row: Row = { lbNodes: n, labUpMs, wallMs: r.wallMs, phases: r.json?.durationsMs ?? {}, loadBefore, loadAfter: machineInfo().loadavg };
    rows.push(row);
    log(`${n} LB nodes: create cluster ${(r.wallMs / 1000).toFixed(1)} s; phases ${JSON.stringify(row.phases)}`);
  } catch (e) {
    console.error(`create-time (${n} LB nodes) failed: ${(e as Error).stack ?? e}`);
    exitCode = 1;
  } finally {
    await lab?.down().catch((e) => console.error(`lab down: ${e}`));
    s.cleanup();
  }
}
const phaseNames = [...new Set(rows.flatMap((r) => Object.keys(r.phases)))];
console.log(`\n| LB nodes | wall time | ${phaseNames.join(' | ')} | load avg before | load avg after |`);
console.log(`|---|---|${phaseNames.map(() => '---|').join('')}---|---|`);
for (const r of rows) {
  console.log(`| ${r.lbNodes} | ${(r.wallMs / 1000).toFixed(1)} s | ${phaseNames.map((p) => (r.phases[p] === undefined ? '—' : `${(r.phases[p]! / 1000).toFixed(1)} s`)).join(' | ')} | ${r.loadBefore} | ${r.loadAfter} |`);
}
process.exit(exitCode);
