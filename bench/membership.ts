// Membership failure detection with the default timers (heartbeat 50 ms, failure timeout 250 ms):
// three members on 127.0.0.1; one is stopped without a goodbye N times; the time until both others
// declare it dead, and until a restarted one is live again everywhere, is measured. Then a CPU hog
// saturates one core for BENCH_HOG_S seconds (default 10) and false "dead" declarations are counted.
// Run: npm run bench -- membership      (BENCH_ROUNDS=20 BENCH_HOG_S=60 for the full figures)
import { spawn } from 'node:child_process';
import { startMembership, type Membership } from '../src/speaker/membership.js';

const HB = Number(process.env.BENCH_HB_MS ?? 50);
const FAIL = Number(process.env.BENCH_FAIL_MS ?? 250);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const HOG_S = Number(process.env.BENCH_HOG_S ?? 10);
const secret = Buffer.from('bench-secret-bench-secret-bench-secret');

const start = (name: string, port = 0, peers: string[] = []) =>
  startMembership({ nodeName: name, bindAddress: '127.0.0.1', port, peers, secret, heartbeatIntervalMs: HB, failureTimeoutMs: FAIL });

function until(pred: () => boolean, timeoutMs = 10_000): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (pred()) return resolve(performance.now() - t0);
      if (performance.now() - t0 > timeoutMs) return reject(new Error('timeout'));
      setTimeout(check, 2);
    };
    check();
  });
}
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

const a = await start('m-a');
const b = await start('m-b');
let c: Membership = await start('m-c');
const cPort = c.localPort();
const addrs = [a, b, c].map((m) => `127.0.0.1:${m.localPort()}`);
for (const m of [a, b, c]) m.setPeers(addrs);
await until(() => a.live().length === 3 && b.live().length === 3);

const detect: number[] = [];
const rejoin: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  await new Promise((r) => setTimeout(r, 100 + Math.random() * HB)); // random phase against the heartbeat
  await c.close();
  detect.push(await until(() => a.live().length === 2 && b.live().length === 2));
  const t0 = performance.now();
  c = await start('m-c', cPort, addrs);
  await until(() => a.live().length === 3 && b.live().length === 3 && c.live().length === 3);
  rejoin.push(performance.now() - t0);
}
console.log(`timers: heartbeat ${HB} ms, failure timeout ${FAIL} ms; ${ROUNDS} rounds`);
console.log(`dead detection (stop → both peers drop it): median ${pct(detect, 50).toFixed(0)} ms, p90 ${pct(detect, 90).toFixed(0)} ms, worst ${Math.max(...detect).toFixed(0)} ms (bound: ${FAIL + HB} ms + scheduling)`);
console.log(`rejoin (start → live everywhere): median ${pct(rejoin, 50).toFixed(0)} ms, worst ${Math.max(...rejoin).toFixed(0)} ms`);

// False failover under one saturated core.
let falseDeaths = 0;
for (const m of [a, b, c]) m.on('change', (live) => { if (live.length < 3) falseDeaths++; });
const hog = spawn(process.execPath, ['-e', 'const end = Date.now() + ' + HOG_S * 1000 + '; while (Date.now() < end) {}'], { stdio: 'ignore' });
const hogDone = new Promise((r) => hog.on('exit', r));
await hogDone;
console.log(`one core saturated for ${HOG_S} s: ${falseDeaths} false dead declarations`);
const s = a.stats();
console.log(`member m-a: sent ${s.sent}, received ${s.received}, dropped auth ${s.droppedAuth} replay ${s.droppedReplay} stale ${s.droppedStale}, tcp probes ${s.tcpProbes}`);
for (const m of [a, b, c]) await m.close();
