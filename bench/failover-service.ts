/**
 * Service IP failover: bmlb's speakers (from the DaemonSet `create cluster` applies, default timers)
 * side by side with keepalived holding a plain VIP on the same LB nodes, at keepalived's stock
 * timers (VRRPv2, advert_int 1) and at 100 ms VRRPv3 adverts, in ONE lab (cp1 + lb1..lb3; root).
 *
 *   npm run bench -- failover-service
 *   BENCH_TRIALS=20 BENCH_BUSY_S=60 npm run bench -- failover-service      (the defaults)
 *
 * Series "bmlb speaker": a selector-less LoadBalancer Service whose only endpoint is an HTTP server
 *   on cp1 (not an LB node, so cutting an LB node never cuts the backend); the client GETs
 *   http://IP/ every 20 ms. The announcing node is the one whose MAC the client's neighbour entry
 *   for the IP carries.
 * Series "keepalived 1 s" / "keepalived 100 ms": keepalived started directly (by PID, not as pods)
 *   on lb1..lb3 with a config written here that mirrors bmlb's rendered vrrp_instance (BACKUP,
 *   nopreempt, priorities 150/140/130) minus the HAProxy health check, on VIPs 198.51.100.250
 *   (VRID 201) and .251 (VRID 202) — outside both lab pools. The client GETs VIP:18080 from a small
 *   HTTP server on every LB node. Holder = the node whose eth0 has the VIP.
 * Each trial cuts the announcer's/holder's eth0, waits until GETs succeed again from another node,
 * keeps the link down 1 s more, restores it and watches 3 s. Figures: largest gap between
 * successful GET starts while the link is down ("cut gap") and in the 3 s after it returns
 * ("return gap": bmlb's per-Service election is deterministic, so a returning node takes back the
 * Services it wins — keepalived with nopreempt does not).
 * Then the "saturated core" check: a busy loop (one process, ended by PID) in the host for
 * BENCH_BUSY_S seconds while the speaker series' Service and the control-plane VIP are watched:
 * announcement moves, VIP moves and GET gaps over 300 ms are counted.
 * Not a test: nothing fails on speed.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBackend, type Backend } from '../test/helpers/backend.js';
import { startTestLab, type TestLab } from '../test/helpers/lab.js';
import { bmlbCli, envNumber, fmtMs, holdersOf, log, machineInfo, median, scratch, setLink, sleep, startBusyLoop, startProbe, until, worst, type Probe } from './lab-probe.js';

const TRIALS = envNumber('BENCH_TRIALS', 20);
const BUSY_S = envNumber('BENCH_BUSY_S', 60);
const LB = ['lb1', 'lb2', 'lb3'];
const CP_VIP = '198.51.100.10';
const KA_PORT = 18080;

interface Trial {
  from: string;
  to: string;
  cutGapMs: number;
  returnGapMs: number;
  recovered: boolean;
  movesDuringWatch: number;
  endOn: string;
  /** Speaker series only: the Service's announcing-node annotation just before the cut. */
  annotatedBefore?: string;
}

interface Series {
  name: string;
  trials: Trial[];
  loadavg: string;
}

type Who = () => Promise<string[]>;

async function trial(lab: TestLab, probe: Probe, who: Who, annotation?: () => Promise<string>): Promise<Trial> {
  const annotatedBefore = annotation ? await annotation() : undefined;
  const now = await who();
  if (now.length !== 1) throw new Error(`expected one announcer/holder before the trial, found ${JSON.stringify(now)}`);
  const from = now[0]!;
  const cut = Date.now();
  setLink(lab, from, false);
  let to = '';
  const recovered = await until(async () => {
    if (probe.firstSuccessAfter(cut + 100) === undefined) return false;
    const w = (await who()).filter((n) => n !== from);
    to = w[0] ?? '';
    return w.length >= 1;
  }, 20_000, 100);
  await sleep(1000);
  const restore = Date.now();
  const cutGapMs = probe.maxGap(cut, restore);
  setLink(lab, from, true);
  let last = to;
  let moves = 0;
  const w0 = Date.now();
  while (Date.now() - w0 < 3000) {
    const w = (await who()).join(',');
    if (w && w !== last) {
      // Not recovered: the first announcer seen after the return is where it ends, not a move.
      if (last) moves++;
      last = w;
    }
    await sleep(200);
  }
  const returnGapMs = probe.maxGap(restore, Date.now());
  return { from, to, cutGapMs, returnGapMs, recovered, movesDuringWatch: moves, endOn: last, ...(annotatedBefore !== undefined ? { annotatedBefore } : {}) };
}

async function series(lab: TestLab, name: string, probe: Probe, who: Who, annotation?: () => Promise<string>): Promise<Series> {
  const trials: Trial[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const t = await trial(lab, probe, who, annotation);
    trials.push(t);
    log(`[${name}] trial ${i + 1}/${TRIALS}: ${t.from} → ${t.to || '?'} cut gap ${fmtMs(t.cutGapMs)}${t.recovered ? '' : ' (NOT recovered in 20 s)'}, return gap ${fmtMs(t.returnGapMs)}, moves after return ${t.movesDuringWatch} (ends on ${t.endOn})${t.annotatedBefore !== undefined ? `; annotation before the cut: ${t.annotatedBefore}${t.annotatedBefore !== t.from ? ' (the client was NOT on the elected node)' : ''}` : ''}`);
    // Settle: exactly one announcer/holder for 1 s before the next cut.
    await until(async () => (await who()).length === 1, 15_000, 200);
    await sleep(500);
  }
  return { name, trials, loadavg: machineInfo().loadavg };
}

function row(s: Series): string {
  const ok = s.trials.filter((t) => t.recovered);
  // Every trial counts: an unrecovered one contributes its gap (≥ 20 s, a lower bound).
  const cut = s.trials.map((t) => t.cutGapMs);
  const ret = s.trials.map((t) => t.returnGapMs);
  const back = s.trials.filter((t) => t.movesDuringWatch > 0).length;
  return `| ${s.name} | ${s.trials.length} | ${fmtMs(median(cut))} | ${fmtMs(worst(cut))} | ${s.trials.length - ok.length} | ${fmtMs(median(ret))} | ${fmtMs(worst(ret))} | ${back} | ${s.loadavg} |`;
}

function keepalivedConf(o: { routerId: string; version: 2 | 3; advertInt: string; vrid: number; priority: number; vip: string }): string {
  return [
    `# bench/failover-service.ts: plain VIP ${o.vip}, VRRPv${o.version}, advert_int ${o.advertInt}`,
    'global_defs {',
    `  router_id ${o.routerId}`,
    `  vrrp_version ${o.version}`,
    '  max_auto_priority',
    '}',
    `vrrp_instance bench_${o.vrid} {`,
    '  state BACKUP',
    '  nopreempt',
    '  interface eth0',
    `  virtual_router_id ${o.vrid}`,
    `  priority ${o.priority}`,
    `  advert_int ${o.advertInt}`,
    '  virtual_ipaddress {',
    `    ${o.vip}/24 dev eth0`,
    '  }',
    '}',
    '',
  ].join('\n');
}

const HTTP_SCRIPT = `require('node:http').createServer((q, r) => r.end(require('node:os').hostname() + '\\n')).listen(Number(process.argv[1]), '0.0.0.0');`;

const info = machineInfo();
log(`failover-service: ${TRIALS} trials per series, busy check ${BUSY_S} s; ${info.nproc} CPUs, ${info.memGiB} GiB, kernel ${info.kernel}, load ${info.loadavg}`);
const s = scratch('svc');
let lab: TestLab | undefined;
const probes: Probe[] = [];
let backend: Backend | undefined;
let busy: { stop(): void } | undefined;
let exitCode = 0;
try {
  lab = await startTestLab({ tag: 'bsvc', nodes: 4, lbNodes: 3 });
  const L = lab;
  log(`lab ${L.name} up`);
  const c = await bmlbCli(L, s, ['create/cluster', '-c', L.status.clusterFile, '--wait-timeout', '180']);
  if (c.code !== 0) throw new Error(`create cluster exited ${c.code}: ${JSON.stringify(c.json)?.slice(0, 2000)} ${c.stderr.slice(-2000)}`);
  log(`create cluster took ${(c.wallMs / 1000).toFixed(1)} s`);

  const macOf: Record<string, string> = {};
  for (const n of LB) macOf[(await L.nodeExec(n, ['cat', '/sys/class/net/eth0/address'])).stdout.trim()] = n;
  const kubectl = async (args: string[], input?: string) => {
    const r = await L.kubectl(args, { input });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  // --- bmlb speaker ---
  await kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'bench-web', namespace: 'default' },
    spec: { type: 'LoadBalancer', ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  }));
  const cp1 = L.status.nodes.find((n) => n.name === 'cp1')!;
  backend = await startBackend({
    spawn: (argv) => L.nodeSpawn('cp1', argv, { stdio: ['ignore', 'pipe', 'pipe'] }),
    kubectl: (args, input) => L.kubectl(args, { input }),
    node: { name: 'cp1', address: cp1.address },
    port: 8080,
    service: { namespace: 'default', name: 'bench-web', portName: 'http' },
  });
  let svcIP = '';
  const annotated = async (): Promise<string> => {
    const svc = JSON.parse(await kubectl(['get', 'service', 'bench-web', '-n', 'default', '-o', 'json']));
    svcIP = svc.status?.loadBalancer?.ingress?.[0]?.ip ?? '';
    return svc.metadata?.annotations?.['bmlb.io/announcing-node'] ?? '';
  };
  if (!(await until(async () => (await annotated()) !== '' && svcIP !== '', 90_000, 1000))) throw new Error('the Service got no IP or no announcing node within 90 s');
  log(`Service bench-web: ${svcIP}, announcing node ${await annotated()}`);
  const neighNode: Who = async () => {
    const r = await L.exec('client', ['ip', '-j', 'neigh', 'show', 'to', svcIP, 'dev', 'eth0']);
    const mac = (JSON.parse(r.stdout || '[]') as { lladdr?: string }[])[0]?.lladdr;
    const n = mac ? macOf[mac] : undefined;
    return n ? [n] : [];
  };
  const pSvc = startProbe(L, { kind: 'http', host: svcIP, port: 80 });
  probes.push(pSvc);
  if (!(await until(() => pSvc.successes.length > 10, 60_000, 200))) throw new Error(`GET http://${svcIP}/ from the client never succeeded`);
  await until(async () => (await neighNode()).length === 1, 10_000, 200);
  const results: Series[] = [];
  results.push(await series(L, 'bmlb speaker (defaults: heartbeat 50 ms, failure 250 ms)', pSvc, neighNode, annotated));

  // --- saturated core ---
  let busyResult = '';
  if (BUSY_S > 0) {
    await until(async () => (await neighNode()).length === 1, 15_000, 200);
    const ann0 = await annotated();
    let lastN = (await neighNode()).join(',');
    let lastA = ann0;
    let lastV = (await holdersOf(L, LB, CP_VIP)).join(',');
    let nMoves = 0;
    let aMoves = 0;
    let vMoves = 0;
    const load0 = machineInfo().loadavg;
    busy = startBusyLoop((argv) => spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' }));
    const b0 = Date.now();
    while (Date.now() - b0 < BUSY_S * 1000) {
      await sleep(1000);
      const n = (await neighNode()).join(',');
      const a = await annotated().catch(() => lastA);
      const v = (await holdersOf(L, LB, CP_VIP)).join(',');
      if (n && n !== lastN) { nMoves++; log(`[busy] client neighbour ${lastN} → ${n}`); lastN = n; }
      if (a && a !== lastA) { aMoves++; log(`[busy] announcing-node annotation ${lastA} → ${a}`); lastA = a; }
      if (v !== lastV) { vMoves++; log(`[busy] control-plane VIP ${lastV} → ${v}`); lastV = v; }
    }
    const b1 = Date.now();
    busy.stop();
    busy = undefined;
    busyResult = `saturated core (busy loop, ${BUSY_S} s, load before ${load0}, after ${machineInfo().loadavg}): Service announcer moves seen by the client ${nMoves}, announcing-node annotation changes ${aMoves}, control-plane VIP moves ${vMoves}, GET gaps > 300 ms ${pSvc.gapsOver(300, b0, b1)}, largest GET gap ${fmtMs(pSvc.maxGap(b0, b1))}`;
    log(busyResult);
  }
  pSvc.stop();

  // --- keepalived on a plain VIP ---
  for (const n of LB) L.nodeSpawn(n, [process.execPath, '-e', HTTP_SCRIPT, String(KA_PORT)], { stdio: 'ignore' });
  const kaSeries = [
    { name: 'keepalived stock (VRRPv2, advert_int 1)', version: 2 as const, advertInt: '1', vrid: 201, vip: '198.51.100.250' },
    { name: 'keepalived VRRPv3, advert_int 0.1', version: 3 as const, advertInt: '0.1', vrid: 202, vip: '198.51.100.251' },
  ];
  for (const k of kaSeries) {
    const pids: number[] = [];
    for (const [i, n] of LB.entries()) {
      const dir = join(s.dir, `ka-${k.vrid}-${n}`);
      const conf = `${dir}.conf`;
      writeFileSync(conf, keepalivedConf({ routerId: `bench-${n}`, version: k.version, advertInt: k.advertInt, vrid: k.vrid, priority: 150 - 10 * i, vip: k.vip }));
      const child = L.nodeSpawn(n, ['keepalived', '--dont-fork', '--log-console', '--no-syslog', '--vrrp', '-f', conf, '-p', `${dir}.pid`, '-r', `${dir}.vrrp.pid`], { stdio: 'ignore' });
      if (child.pid) pids.push(child.pid);
    }
    try {
      const who: Who = () => holdersOf(L, LB, k.vip);
      if (!(await until(async () => (await who()).length === 1, 30_000, 250))) throw new Error(`${k.name}: no single holder of ${k.vip} within 30 s`);
      const p = startProbe(L, { kind: 'http', host: k.vip, port: KA_PORT });
      probes.push(p);
      if (!(await until(() => p.successes.length > 10, 30_000, 200))) throw new Error(`${k.name}: GET ${k.vip}:${KA_PORT} never succeeded`);
      results.push(await series(L, k.name, p, who));
      p.stop();
    } finally {
      for (const pid of pids) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      await sleep(1500);
      for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }

  console.log('\n| series | trials | median cut gap (all trials) | worst cut gap | not recovered in 20 s | median return gap | worst return gap | trials with a move after return | load avg after |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of results) console.log(row(r));
  for (const r of results) console.log(`per-trial cut gaps (ms), ${r.name}: ${r.trials.map((t) => Math.round(t.cutGapMs)).join(' ')}`);
  if (busyResult) console.log(busyResult);
  console.log(`load average at the end: ${machineInfo().loadavg}`);
} catch (e) {
  console.error(`failover-service failed: ${(e as Error).stack ?? e}`);
  exitCode = 1;
} finally {
  busy?.stop();
  for (const p of probes) p.stop();
  await backend?.stop().catch(() => undefined);
  await lab?.down().catch((e) => console.error(`lab down: ${e}`));
  s.cleanup();
}
process.exit(exitCode);
