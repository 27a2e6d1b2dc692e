// Allocator alone (issue 5, benchmark 3): allocations per second on a /16 pool, and the memory the
// allocator holds for 10,000 Services. Pure CPU, no network. Run: npm run bench -- allocator
import { Allocator, type ServiceRequest } from '../src/controller/allocator.js';

function req(i: number, o: Partial<ServiceRequest> = {}): ServiceRequest {
  return {
    key: `bench/svc-${i}`, ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', requestedIPs: [],
    ports: [{ port: 80, protocol: 'TCP' }], externalTrafficPolicy: 'Cluster', selector: { app: `a${i}` }, ...o,
  };
}
const pools = [{ name: 'big', addresses: ['198.18.0.0/16'], avoidBuggyIPs: true, manualAssign: false }];
const gc = (globalThis as { gc?: () => void }).gc;

function heap(): number {
  gc?.();
  return process.memoryUsage().heapUsed;
}

// 1. Fill a /16 (65,024 usable with avoidBuggyIPs) from empty: allocations/s.
{
  const a = new Allocator({ pools });
  const t0 = process.hrtime.bigint();
  let n = 0;
  for (;;) {
    const d = a.assign(req(n), []);
    if (!d.ok) break;
    n++;
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`fill /16 (avoidBuggyIPs): ${n} allocations in ${s.toFixed(3)} s = ${Math.round(n / s)} allocations/s (until "${a.assign(req(n), []).ok ? '' : 'exhausted'}")`);
}

// 2. 10,000 Services: time, allocations/s and retained heap.
{
  const before = heap();
  const a = new Allocator({ pools });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 10_000; i++) if (!a.assign(req(i), []).ok) throw new Error(`allocation ${i} failed`);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = heap();
  console.log(`10,000 Services on a /16: ${s.toFixed(3)} s = ${Math.round(10_000 / s)} allocations/s`);
  console.log(`heap held by the allocator for 10,000 Services: ${((after - before) / 1024 / 1024).toFixed(2)} MiB (${Math.round((after - before) / 10_000)} bytes/Service)${gc ? '' : ' (run with --expose-gc for a steadier figure)'}`);

  // 3. Churn: release + re-assign (restart path: every Service re-assigned with its status IP).
  const t1 = process.hrtime.bigint();
  for (let i = 0; i < 10_000; i++) {
    const held = a.held(`bench/svc-${i}`);
    if (!a.assign(req(i), held).ok) throw new Error('reassign failed');
  }
  const s1 = Number(process.hrtime.bigint() - t1) / 1e9;
  console.log(`re-assign 10,000 Services keeping their IPs (restart path): ${Math.round(10_000 / s1)} decisions/s`);

  // 4. Churn with holes: free every 10th, allocate the same number again (first-free must find the holes).
  for (let i = 0; i < 10_000; i += 10) a.release(`bench/svc-${i}`);
  const t2 = process.hrtime.bigint();
  for (let i = 0; i < 1_000; i++) if (!a.assign(req(20_000 + i), []).ok) throw new Error('refill failed');
  const s2 = Number(process.hrtime.bigint() - t2) / 1e9;
  console.log(`refill 1,000 holes after releasing every 10th Service: ${Math.round(1_000 / s2)} allocations/s`);

  // 5. Sharing: 1,000 Services with the same key and distinct ports land on one IP.
  const t3 = process.hrtime.bigint();
  for (let i = 0; i < 1_000; i++) {
    const d = a.assign(req(30_000 + i, { sharingKey: 'shared', ports: [{ port: 1000 + i, protocol: 'TCP' }] }), []);
    if (!d.ok) throw new Error('sharing failed');
  }
  const s3 = Number(process.hrtime.bigint() - t3) / 1e9;
  console.log(`1,000 Services sharing one IP (same key, distinct ports): ${Math.round(1_000 / s3)} allocations/s`);
}
