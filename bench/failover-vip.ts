/**
 * Control-plane VIP failover, bmlb's defaults side by side with keepalived's stock 1 s advert
 * interval, in ONE lab (cp1 + lb1..lb3; root, network namespaces).
 *
 *   npm run bench -- failover-vip
 *   BENCH_TRIALS=10 BENCH_SOAK_S=300 npm run bench -- failover-vip     (the defaults)
 *
 * Series A: `bmlb create cluster` on the lab's cluster file (VRRPv3, 200 ms adverts).
 * Series B: the same lab, the cluster file with spec.loadBalancer.bmlb.vrrp.advertIntervalMs: 1000,
 *   applied by running `create cluster` again: it rewrites keepalived.conf on every LB node and the
 *   keepalived static pods restart (their manifests carry the config's sha256).
 * Each trial: a probe in `client` opens a TCP connection to VIP:443 every 20 ms (HAProxy on the
 * holder accepts it), the holder's eth0 goes down, we wait until probes succeed again and one other
 * node holds the VIP, keep the link down 1 s more, bring it back, and watch 3 s: holders must stay
 * one, on the new node (nopreempt: no move back). Figure: the largest gap between successful probe
 * starts from the cut until the link returns.
 * After series A, an idle soak (BENCH_SOAK_S, default 300 s): VIP holder polled every 2 s, moves
 * and probe gaps over 200 ms counted.
 * Not a test: nothing fails on speed; it exits non-zero only when the lab or create cluster fails.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestLab, type TestLab } from '../test/helpers/lab.js';
import { bmlbCli, envNumber, fmtMs, holdersOf, log, machineInfo, median, scratch, setLink, sleep, startProbe, until, worst, type Probe } from './lab-probe.js';

const TRIALS = envNumber('BENCH_TRIALS', 10);
const SOAK_S = envNumber('BENCH_SOAK_S', 300);
const VIP = '198.51.100.10';
const LB = ['lb1', 'lb2', 'lb3'];

interface Trial {
  from: string;
  to: string;
  gapMs: number;
  recovered: boolean;
  holdersAfter: number;
  maxHoldersDuringWatch: number;
  movedBack: boolean;
}

async function stableSingleHolder(lab: TestLab, forMs: number, timeoutMs: number): Promise<string | undefined> {
  const t0 = Date.now();
  let since = 0;
  let last = '';
  while (Date.now() - t0 < timeoutMs) {
    const h = await holdersOf(lab, LB, VIP);
    if (h.length === 1 && h[0] === last) {
      if (Date.now() - since >= forMs) return last;
    } else {
      last = h.length === 1 ? h[0]! : '';
      since = Date.now();
    }
    await sleep(250);
  }
  return undefined;
}

async function trial(lab: TestLab, probe: Probe): Promise<Trial> {
  const h = await holdersOf(lab, LB, VIP);
  if (h.length !== 1) throw new Error(`expected one VIP holder before the trial, found ${JSON.stringify(h)}`);
  const from = h[0]!;
  const cut = Date.now();
  setLink(lab, from, false);
  let to = '';
  const recovered = await until(async () => {
    if (probe.firstSuccessAfter(cut + 100) === undefined) return false;
    const now = (await holdersOf(lab, LB, VIP)).filter((n) => n !== from);
    to = now[0] ?? '';
    return now.length >= 1;
  }, 20_000, 100);
  await sleep(1000);
  const restore = Date.now();
  const gapMs = probe.maxGap(cut, restore);
  setLink(lab, from, true);
  let maxHolders = 0;
  let movedBack = false;
  const w0 = Date.now();
  while (Date.now() - w0 < 3000) {
    const now = await holdersOf(lab, LB, VIP);
    maxHolders = Math.max(maxHolders, now.length);
    if (now.includes(from)) movedBack = true;
    await sleep(200);
  }
  const after = await holdersOf(lab, LB, VIP);
  return { from, to, gapMs, recovered, holdersAfter: after.length, maxHoldersDuringWatch: maxHolders, movedBack };
}

async function series(lab: TestLab, name: string, probe: Probe): Promise<{ name: string; trials: Trial[]; loadavg: string }> {
  const trials: Trial[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const t = await trial(lab, probe);
    trials.push(t);
    log(`[${name}] trial ${i + 1}/${TRIALS}: ${t.from} → ${t.to || '?'} gap ${fmtMs(t.gapMs)}${t.recovered ? '' : ' (NOT recovered in 20 s)'}; holders after ${t.holdersAfter}, max during watch ${t.maxHoldersDuringWatch}${t.movedBack ? ', MOVED BACK' : ''}`);
    if (t.holdersAfter !== 1) await stableSingleHolder(lab, 2000, 20_000);
  }
  return { name, trials, loadavg: machineInfo().loadavg };
}

async function soak(lab: TestLab, probe: Probe, seconds: number): Promise<{ seconds: number; moves: number; maxHolders: number; gapsOver200: number; maxGapMs: number }> {
  const t0 = Date.now();
  let last = (await holdersOf(lab, LB, VIP)).join(',');
  let moves = 0;
  let maxHolders = 0;
  while (Date.now() - t0 < seconds * 1000) {
    await sleep(2000);
    const h = await holdersOf(lab, LB, VIP);
    maxHolders = Math.max(maxHolders, h.length);
    if (h.join(',') !== last) {
      moves++;
      log(`[soak] holder ${last} → ${h.join(',')}`);
      last = h.join(',');
    }
  }
  const end = Date.now();
  return { seconds, moves, maxHolders, gapsOver200: probe.gapsOver(200, t0, end), maxGapMs: probe.maxGap(t0, end) };
}

function summary(s: { name: string; trials: Trial[]; loadavg: string }): string {
  // Every trial counts: an unrecovered one contributes its gap (≥ 20 s, a lower bound).
  const g = s.trials.map((t) => t.gapMs);
  const split = s.trials.filter((t) => t.holdersAfter !== 1 || t.maxHoldersDuringWatch > 1).length;
  const back = s.trials.filter((t) => t.movedBack).length;
  return `| ${s.name} | ${s.trials.length} | ${fmtMs(median(g))} | ${fmtMs(worst(g))} | ${s.trials.filter((t) => !t.recovered).length} | ${split} | ${back} | ${s.loadavg} |`;
}

const info = machineInfo();
log(`failover-vip: ${TRIALS} trials per series, soak ${SOAK_S} s; ${info.nproc} CPUs, ${info.memGiB} GiB, kernel ${info.kernel}, load ${info.loadavg}`);
const s = scratch('vip');
let lab: TestLab | undefined;
let probe: Probe | undefined;
let exitCode = 0;
try {
  lab = await startTestLab({ tag: 'bvip', nodes: 4, lbNodes: 3 });
  log(`lab ${lab.name} up`);
  const c1 = await bmlbCli(lab, s, ['create/cluster', '-c', lab.status.clusterFile, '--wait-timeout', '180']);
  if (c1.code !== 0) throw new Error(`create cluster (defaults) exited ${c1.code}: ${JSON.stringify(c1.json)?.slice(0, 2000)} ${c1.stderr.slice(-2000)}`);
  log(`create cluster (defaults) took ${(c1.wallMs / 1000).toFixed(1)} s`);
  if (!(await stableSingleHolder(lab, 3000, 60_000))) throw new Error('no single stable VIP holder after create cluster');
  probe = startProbe(lab, { kind: 'tcp', host: VIP, port: 443 });
  await until(() => probe!.successes.length > 10, 20_000, 100);
  const a = await series(lab, 'bmlb defaults (VRRPv3, 200 ms adverts)', probe);
  const soakResult = SOAK_S > 0 ? await soak(lab, probe, SOAK_S) : undefined;
  if (soakResult) log(`[soak] ${soakResult.seconds} s idle: ${soakResult.moves} VIP moves, max ${soakResult.maxHolders} holders, ${soakResult.gapsOver200} probe gaps > 200 ms, largest gap ${fmtMs(soakResult.maxGapMs)}`);

  const slowFile = join(s.dir, 'advert-1000.yaml');
  writeFileSync(slowFile, readFileSync(lab.status.clusterFile, 'utf8').replace(/^    type: layer2$/m, '    type: layer2\n    bmlb:\n      vrrp:\n        advertIntervalMs: 1000'));
  const c2 = await bmlbCli(lab, s, ['create/cluster', '-c', slowFile, '--wait-timeout', '180']);
  if (c2.code !== 0) throw new Error(`create cluster (1000 ms) exited ${c2.code}: ${JSON.stringify(c2.json)?.slice(0, 2000)} ${c2.stderr.slice(-2000)}`);
  log(`create cluster (advertIntervalMs 1000) took ${(c2.wallMs / 1000).toFixed(1)} s`);
  const conf = await lab.nodeExec('lb1', ['grep', 'advert_int', '/etc/bmlb/keepalived/keepalived.conf']);
  log(`lb1 keepalived.conf now: ${conf.stdout.trim()}`);
  // The keepalived static pods restart with the new file; let them settle.
  await sleep(5000);
  if (!(await stableSingleHolder(lab, 5000, 90_000))) throw new Error('no single stable VIP holder after re-creating with 1000 ms adverts');
  const b = await series(lab, 'keepalived stock interval (VRRPv3, 1000 ms adverts)', probe);

  console.log('\n| series | trials | median gap | worst gap | not recovered | trials with ≠1 holder | moved back | load avg after |');
  console.log('|---|---|---|---|---|---|---|---|');
  console.log(summary(a));
  console.log(summary(b));
  if (soakResult) console.log(`\nidle soak (bmlb defaults): ${soakResult.seconds} s, VIP moves ${soakResult.moves}, max holders ${soakResult.maxHolders}, probe gaps > 200 ms: ${soakResult.gapsOver200}, largest gap ${fmtMs(soakResult.maxGapMs)}`);
  console.log(`per-trial gaps (ms): A ${a.trials.map((t) => Math.round(t.gapMs)).join(' ')}; B ${b.trials.map((t) => Math.round(t.gapMs)).join(' ')}`);
  console.log(`load average at the end: ${machineInfo().loadavg}`);
} catch (e) {
  console.error(`failover-vip failed: ${(e as Error).stack ?? e}`);
  exitCode = 1;
} finally {
  probe?.stop();
  await lab?.down().catch((e) => console.error(`lab down: ${e}`));
  s.cleanup();
}
process.exit(exitCode);
