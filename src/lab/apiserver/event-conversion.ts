/**
 * core/v1 Events and events.k8s.io/v1 Events are one stored object in Kubernetes, seen through
 * two schemas. The lab stores the core/v1 form and converts events.k8s.io/v1 reads and writes
 * with the field mapping of kube-apiserver's conversion (regarding ↔ involvedObject, note ↔
 * message, reportingController ↔ reportingComponent, deprecated* ↔ source/first/last/count). Pure.
 */
import type { JsonObject } from './patch.js';

type Pairs = Array<[string, string]>;

/** [events.k8s.io field, core field] */
const FIELDS: Pairs = [
  ['metadata', 'metadata'], ['regarding', 'involvedObject'], ['related', 'related'], ['reason', 'reason'], ['note', 'message'],
  ['type', 'type'], ['action', 'action'], ['eventTime', 'eventTime'], ['series', 'series'],
  ['reportingController', 'reportingComponent'], ['reportingInstance', 'reportingInstance'],
  ['deprecatedSource', 'source'], ['deprecatedFirstTimestamp', 'firstTimestamp'], ['deprecatedLastTimestamp', 'lastTimestamp'], ['deprecatedCount', 'count'],
];

function map(o: JsonObject, pairs: Pairs, from: 0 | 1): JsonObject {
  const out: JsonObject = {};
  for (const p of pairs) {
    const v = o[p[from]];
    if (v !== undefined) out[p[1 - from]!] = v;
  }
  return out;
}

export function eventToCore(e: JsonObject): JsonObject {
  const c = map(e, FIELDS, 0);
  if (c.source === undefined && typeof e.reportingController === 'string') c.source = { component: e.reportingController };
  return { apiVersion: 'v1', kind: 'Event', ...c };
}

export function eventFromCore(c: JsonObject): JsonObject {
  return { apiVersion: 'events.k8s.io/v1', kind: 'Event', ...map(c, FIELDS, 1) };
}
