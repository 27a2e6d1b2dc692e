/**
 * ValidatingAdmissionPolicy evaluation with the CEL subset of cel.ts: for each binding whose
 * policy's matchConstraints (and the binding's matchResources) match the request, the policy's
 * matchConditions, variables and validations are evaluated over `object`, `oldObject`, `request`,
 * `namespaceObject` and `variables`. A false validation with validationActions Deny refuses the
 * request like kube-apiserver (`ValidatingAdmissionPolicy 'P' with binding 'B' denied request: M`);
 * an evaluation error follows failurePolicy. `params`/paramRef and the `authorizer` variable are
 * not supported (a policy using them errors, so failurePolicy applies).
 */
import type { Admission, AdmissionRequest } from './admission.js';
import { CelError, evalCel, parseCel, type Value } from './cel.js';
import { isObject, type JsonObject } from './patch.js';
import { ApiError } from './status.js';
import type { KubeObject } from './store.js';
import { matchesSelectors, ruleMatches } from './webhooks.js';

export interface PolicyDeps {
  policies(): KubeObject[];
  bindings(): KubeObject[];
  namespace(name: string): KubeObject | undefined;
}

interface ResourceRule { operations?: string[]; apiGroups?: string[]; apiVersions?: string[]; resources?: string[]; resourceNames?: string[]; scope?: string }

function ruleHits(rules: ResourceRule[], req: AdmissionRequest): boolean {
  return rules.some((r) => ruleMatches(r, req) && (!r.resourceNames?.length || r.resourceNames.includes(req.name)));
}

function constraintsMatch(c: JsonObject | undefined, req: AdmissionRequest, deps: PolicyDeps, rulesRequired: boolean): boolean {
  if (!c) return !rulesRequired;
  const rules = (Array.isArray(c.resourceRules) ? c.resourceRules : []) as ResourceRule[];
  if (rules.length ? !ruleHits(rules, req) : rulesRequired) return false;
  const excluded = (Array.isArray(c.excludeResourceRules) ? c.excludeResourceRules : []) as ResourceRule[];
  if (excluded.length && ruleHits(excluded, req)) return false;
  return matchesSelectors(c.namespaceSelector, c.objectSelector, req, (n) => deps.namespace(n));
}

const CODES: Record<string, number> = { Unauthorized: 401, Forbidden: 403, Invalid: 422, RequestEntityTooLarge: 413 };

function evaluate(expr: string, vars: Record<string, Value>): Value {
  return evalCel(parseCel(expr), vars);
}

export class PolicyAdmission implements Admission {
  constructor(private readonly deps: PolicyDeps) {}

  async validate(req: AdmissionRequest): Promise<void> {
    if (req.type.group === 'admissionregistration.k8s.io') return;
    const policies = this.deps.policies();
    for (const binding of this.deps.bindings()) {
      const bspec = isObject(binding.spec) ? binding.spec : {};
      const policy = policies.find((p) => p.metadata.name === bspec.policyName);
      if (!policy) continue;
      const spec = isObject(policy.spec) ? policy.spec : {};
      if (!constraintsMatch(isObject(spec.matchConstraints) ? spec.matchConstraints : undefined, req, this.deps, true)) continue;
      if (!constraintsMatch(isObject(bspec.matchResources) ? bspec.matchResources : undefined, req, this.deps, false)) continue;
      this.run(policy, binding, spec, bspec, req);
    }
  }

  private run(policy: KubeObject, binding: KubeObject, spec: JsonObject, bspec: JsonObject, req: AdmissionRequest): void {
    const ignore = spec.failurePolicy === 'Ignore';
    const actions = (Array.isArray(bspec.validationActions) ? bspec.validationActions : []) as string[];
    const prefix = `ValidatingAdmissionPolicy '${policy.metadata.name}' with binding '${binding.metadata.name}' denied request`;
    const deny = (message: string, reason: string): never => {
      const code = CODES[reason] ?? 422;
      throw new ApiError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `${prefix}: ${message}`, reason: CODES[reason] ? reason : 'Invalid', code });
    };
    const t = req.type;
    const kind = { group: t.group, version: t.version, kind: t.kind };
    const resource = { group: t.group, version: t.version, resource: t.resource };
    const vars: Record<string, Value> = {
      object: (req.object ?? null) as Value,
      oldObject: (req.oldObject ?? null) as Value,
      request: {
        kind, resource, requestKind: kind, requestResource: resource, subResource: req.subresource ?? '', requestSubResource: req.subresource ?? '',
        name: req.name, namespace: req.namespace ?? '', operation: req.operation, dryRun: req.dryRun,
        userInfo: { username: req.user.username, uid: req.user.uid ?? '', groups: req.user.groups, extra: (req.user.extra ?? {}) as Value },
      },
      namespaceObject: (req.namespace ? this.deps.namespace(req.namespace) ?? null : null) as Value,
      params: null,
    };
    const failed = (what: string, e: unknown): void => {
      if (ignore) return;
      deny(`${what} resulted in error: ${e instanceof CelError || e instanceof Error ? e.message : String(e)}`, 'Invalid');
    };
    try {
      const variables: Record<string, Value> = {};
      vars.variables = variables;
      for (const v of (Array.isArray(spec.variables) ? spec.variables : []) as JsonObject[]) variables[String(v.name)] = evaluate(String(v.expression), vars);
      for (const mc of (Array.isArray(spec.matchConditions) ? spec.matchConditions : []) as JsonObject[]) {
        const r = evaluate(String(mc.expression), vars);
        if (r !== true) return; // a false match condition means the policy does not apply
      }
    } catch (e) {
      failed('a variable or match condition', e);
      return;
    }
    for (const v of (Array.isArray(spec.validations) ? spec.validations : []) as JsonObject[]) {
      const expr = String(v.expression);
      let ok: Value;
      try {
        ok = evaluate(expr, vars);
      } catch (e) {
        failed(`expression '${expr}'`, e);
        continue;
      }
      if (ok === true) continue;
      if (typeof ok !== 'boolean') { failed(`expression '${expr}'`, new CelError('does not evaluate to a bool')); continue; }
      if (!actions.includes('Deny')) continue; // Warn/Audit only
      let message = typeof v.message === 'string' && v.message ? v.message : `failed expression: ${expr}`;
      if (typeof v.messageExpression === 'string') {
        try {
          const m = evaluate(v.messageExpression, vars);
          if (typeof m === 'string' && m.trim()) message = m;
        } catch { /* fall back to message */ }
      }
      deny(message, typeof v.reason === 'string' ? v.reason : 'Invalid');
    }
  }
}
