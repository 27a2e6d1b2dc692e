/** The human-readable summary `lab up` and `lab status` print. */
import type { LabStatus } from './lab-state.js';

export function printSummary(log: (s: string) => void, r: LabStatus): void {
  log(`  cluster file        ${r.clusterFile}`);
  log(`  kubeconfig          ${r.kubeconfig}`);
  log(`  admin-user config   ${r.adminUserKubeconfig}`);
  log(`  ssh key             ${r.sshKey}`);
  log(`  known_hosts         ${r.knownHosts}`);
  log(`  API server          ${r.kube ? r.apiServer : 'not running (lab up --no-kube)'}`);
  log(`  namespaces          segment ${r.namespaces.segment}, admin ${r.namespaces.admin}, client ${r.namespaces.client}, router ${r.namespaces.router}`);
  for (const n of r.nodes) {
    log(`  node ${n.name.padEnd(6)} ${n.role.padEnd(13)} ${n.address}${n.addressV6 ? ` ${n.addressV6}` : ''}  ns ${n.namespace}  pid ${n.pid}`);
  }
  const cli = r.bmlbBin ?? 'bmlb';
  log(`Run the CLI inside the admin namespace: bmlb lab exec${r.name === 'lab' ? '' : ` --name ${r.name}`} -- ${cli} check preflight -c ${r.clusterFile}`);
}
