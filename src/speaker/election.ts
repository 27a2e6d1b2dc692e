/**
 * Per-IP election (pure). Every speaker orders the live candidate nodes for a Service IP by the hex
 * sha256 of `nodeName + "#" + ip`, ascending, and the first one announces. The rule is stateless and
 * deterministic, so all speakers that see the same live set agree without talking to each other.
 */
import { createHash } from 'node:crypto';

export type TrafficPolicy = 'Cluster' | 'Local';

export type ElectionDecision =
  | { announce: true; node: string }
  | { announce: false; reason: 'notElected'; winner: string }
  | { announce: false; reason: 'noCandidates' }
  | { announce: false; reason: 'selfNotLive' };

export interface ElectionInput {
  /** The Service IP, as the Service status carries it. */
  ip: string;
  /** This speaker's node name. */
  self: string;
  /** LB nodes that membership currently reports live (self included when live). */
  liveLbNodes: string[];
  /** The Service's externalTrafficPolicy. */
  policy: TrafficPolicy;
  /** Nodes with at least one ready endpoint of the Service (only consulted for policy Local). */
  nodesWithReadyEndpoints: string[];
}

function rankKey(node: string, ip: string): string {
  return createHash('sha256').update(`${node}#${ip}`).digest('hex');
}

/** Candidate nodes for `ip`, best first (duplicates removed). */
export function rankCandidates(ip: string, nodes: string[]): string[] {
  const keyed = [...new Set(nodes)].map((n) => ({ n, k: rankKey(n, ip) }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
  return keyed.map((x) => x.n);
}

/** Decide whether `self` announces `ip`. */
export function decideAnnouncement(input: ElectionInput): ElectionDecision {
  const live = new Set(input.liveLbNodes);
  if (!live.has(input.self)) return { announce: false, reason: 'selfNotLive' };
  let candidates = [...live];
  if (input.policy === 'Local') {
    const ready = new Set(input.nodesWithReadyEndpoints);
    candidates = candidates.filter((n) => ready.has(n));
  }
  const winner = rankCandidates(input.ip, candidates)[0];
  if (winner === undefined) return { announce: false, reason: 'noCandidates' };
  if (winner === input.self) return { announce: true, node: winner };
  return { announce: false, reason: 'notElected', winner };
}
