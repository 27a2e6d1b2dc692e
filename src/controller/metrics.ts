/**
 * The controller's Prometheus metrics (pure: counters in memory, text exposition format 0.0.4).
 */
import type { PoolUsage } from './allocator.js';

export class ControllerMetrics {
  allocations = 0;
  readonly failures = new Map<string, number>();
  configErrors = 0;
  configValid = false;
  managedServices = 0;
  reconciles = 0;
  reconcileErrors = 0;

  fail(reason: string): void {
    this.failures.set(reason, (this.failures.get(reason) ?? 0) + 1);
  }

  render(pools: PoolUsage[]): string {
    const lines: string[] = [];
    const family = (name: string, type: 'gauge' | 'counter', help: string, samples: [labels: string, value: number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [l, v] of samples) lines.push(`${name}${l} ${v}`);
    };
    const lbl = (pool: string) => `{pool="${pool.replace(/["\\\n]/g, '_')}"}`;
    family('bmlb_controller_pool_size', 'gauge', 'Assignable addresses in the pool.', pools.map((p) => [lbl(p.pool), p.size]));
    family('bmlb_controller_pool_used', 'gauge', 'Addresses of the pool held by Services.', pools.map((p) => [lbl(p.pool), p.used]));
    family('bmlb_controller_pool_available', 'gauge', 'Addresses of the pool still free.', pools.map((p) => [lbl(p.pool), p.available]));
    family('bmlb_controller_allocations_total', 'counter', 'Service IP assignments written.', [['', this.allocations]]);
    family(
      'bmlb_controller_allocation_failures_total',
      'counter',
      'Refused or failed allocations, by reason.',
      [...this.failures].sort().map(([r, v]) => [`{reason="${r}"}`, v]),
    );
    family('bmlb_controller_config_valid', 'gauge', '1 when the last configuration read was valid.', [['', this.configValid ? 1 : 0]]);
    family('bmlb_controller_config_errors_total', 'counter', 'Invalid configurations seen (the last good one is kept).', [['', this.configErrors]]);
    family('bmlb_controller_services', 'gauge', 'LoadBalancer Services bmlb serves.', [['', this.managedServices]]);
    family('bmlb_controller_reconciles_total', 'counter', 'Service reconciles.', [['', this.reconciles]]);
    family('bmlb_controller_reconcile_errors_total', 'counter', 'Service reconciles that failed on an API error (retried).', [['', this.reconcileErrors]]);
    return lines.join('\n') + '\n';
  }
}
