/**
 * The lab's record of itself (`state.json`) and the status derived from it (`bmlb lab status`).
 * The record is written as soon as anything is started, so a crashed `lab up` can be cleaned.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';
import type { LabIo, ProcessIdentity } from './lab-io.js';
import { isAlive } from './lab-io.js';
import type { LabLayout, LabOptions, NodeRole } from './lab-layout.js';
import { LAB_BASE_DIR, extraNamespace, labPaths, planLabLayout } from './lab-layout.js';

export interface RecordedProcess extends ProcessIdentity {
  /** e.g. `node-holder cp1`, `sshd lb2`, `apiserver`, `node-agent lb1`. */
  what: string;
  /** The node it runs on, if any. */
  node?: string;
}

export interface LabState {
  version: 1;
  name: string;
  options: LabOptions;
  phase: 'starting' | 'ready' | 'failed';
  createdAt: string;
  /** The node namespaces' holder processes, by node name (also listed in `processes`). */
  holders: Record<string, ProcessIdentity>;
  processes: RecordedProcess[];
  /** Where the lab's node agents and API server come from. */
  bmlbBin?: string;
  /** False for a lab brought up with --no-kube (no API server, no node agents). */
  kube?: boolean;
  /** A process whose life bounds the lab's (a test run): once it is gone, the lab is stale. */
  owner?: ProcessIdentity;
  error?: string;
}

export interface LabNodeStatus {
  name: string;
  role: NodeRole;
  address: string;
  addressV6?: string;
  namespace: string;
  /** PID of the process holding the node's mount and UTS namespaces (nsenter --target). */
  pid: number;
}

export interface LabStatus {
  name: string;
  phase: LabState['phase'];
  /** True when every recorded process is alive and the phase is ready. */
  healthy: boolean;
  stateDir: string;
  clusterFile: string;
  kubeconfig: string;
  adminUserKubeconfig: string;
  knownHosts: string;
  sshKey: string;
  caFile: string;
  apiServer: string;
  controlPlaneVIP: string;
  ipv6: boolean;
  /** Whether the lab API server and node agents run (false after `lab up --no-kube`). */
  kube: boolean;
  nodes: LabNodeStatus[];
  namespaces: { segment: string; admin: string; client: string; router: string };
  processes: { what: string; pid: number; alive: boolean }[];
  logDir: string;
  /** The bmlb CLI the lab's daemons run from (this checkout's bin/run.js). */
  bmlbBin?: string;
  error?: string;
}

export function readLabState(name: string, baseDir?: string): LabState | undefined {
  const file = labPaths(name, baseDir).stateFile;
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

/** Labs under baseDir whose recorded owner process is gone (left by a test run that was killed). */
export function staleOwnedLabs(io: LabIo, baseDir = LAB_BASE_DIR): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(baseDir);
  } catch {
    return [];
  }
  return names.filter((name) => {
    const state = readLabState(name, baseDir);
    return state?.owner !== undefined && !isAlive(io, state.owner);
  });
}

export function writeLabState(file: string, state: LabState): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

export function statusFromState(layout: LabLayout, state: LabState, io: LabIo): LabStatus {
  const processes = state.processes.map((p) => ({ what: p.what, pid: p.pid, alive: isAlive(io, p) }));
  const p = layout.paths;
  return {
    name: layout.name,
    phase: state.phase,
    healthy: state.phase === 'ready' && processes.every((x) => x.alive),
    stateDir: p.stateDir,
    clusterFile: p.clusterFile,
    kubeconfig: p.kubeconfig,
    adminUserKubeconfig: p.adminUserKubeconfig,
    knownHosts: p.knownHosts,
    sshKey: p.sshKey,
    caFile: p.caCert,
    apiServer: layout.apiServer.url,
    controlPlaneVIP: layout.controlPlaneVIP,
    ipv6: layout.ipv6,
    kube: state.kube ?? true,
    nodes: layout.nodes.map((n) => ({
      name: n.name,
      role: n.role,
      address: n.address,
      ...(n.addressV6 ? { addressV6: n.addressV6 } : {}),
      namespace: n.namespace,
      pid: state.holders[n.name]?.pid ?? 0,
    })),
    namespaces: {
      segment: layout.segment.namespace,
      admin: extraNamespace(layout, 'admin'),
      client: extraNamespace(layout, 'client'),
      router: extraNamespace(layout, 'router'),
    },
    processes,
    logDir: p.logDir,
    ...(state.bmlbBin ? { bmlbBin: state.bmlbBin } : {}),
    ...(state.error ? { error: state.error } : {}),
  };
}

/** The status of a lab that exists; a UserError when there is none of that name. */
export function labStatus(name: string, io: LabIo, baseDir?: string): LabStatus {
  const state = readLabState(name, baseDir);
  if (!state) {
    throw new UserError(`no lab named "${name}" on this machine (no ${labPaths(name, baseDir).stateFile})`, {
      code: 'LabNotFound',
      suggestions: [`Start it with \`bmlb lab up --name ${name}\`.`],
    });
  }
  const layout = planLabLayout({ ...state.options, name, ...(baseDir ? { baseDir } : {}) });
  return statusFromState(layout, state, io);
}
