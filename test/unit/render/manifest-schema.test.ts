import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateManifest } from '../../../src/render/manifest-schema.js';
import { renderAll } from '../../../src/render/render-all.js';
import type { KubeObject } from '../../../src/render/kube-object.js';
import { samples } from './samples.js';

const rendered = renderAll(samples()[1]!.input);
const pick = (kind: string): KubeObject => structuredClone(rendered.manifests.find((m) => m.kind === kind)!);

/** Apply `mutate` to a copy of the rendered `kind` and return the validator's complaints. */
function problems(kind: string, mutate: (o: any) => void): string[] {
  const o = pick(kind);
  mutate(o);
  return validateManifest(o);
}

describe('manifest schema', () => {
  it('GIVEN every rendered object WHEN validated THEN there are no problems (baseline for the cases below)', () => {
    for (const m of rendered.manifests) assert.deepEqual(validateManifest(m), [], `${m.kind} ${m.metadata.name}`);
  });

  const cases: [string, string, (o: any) => void, RegExp][] = [
    ['a misspelt pod field', 'DaemonSet', (o) => { o.spec.template.spec.hostNetwrok = true; }, /spec\.template\.spec\.hostNetwrok: unknown field/],
    ['a field in the wrong case', 'Deployment', (o) => { o.spec.template.spec.containers[0].ImagePullPolicy = 'Always'; }, /did you mean imagePullPolicy/],
    ['a string where a number belongs', 'Deployment', (o) => { o.spec.replicas = '1'; }, /spec\.replicas: expected a number/],
    ['a fractional integer', 'DaemonSet', (o) => { o.spec.template.spec.containers[0].ports[0].containerPort = 7472.5; }, /expected an integer/],
    ['a map where a list belongs', 'DaemonSet', (o) => { o.spec.template.spec.containers[0].args = { a: 1 }; }, /args: expected a list/],
    ['a selector that misses the pod template', 'DaemonSet', (o) => { o.spec.selector.matchLabels['app.kubernetes.io/name'] = 'other'; }, /does not select the pod template/],
    ['a container without image', 'Deployment', (o) => { delete o.spec.template.spec.containers[0].image; }, /containers\[0\]\.image: required/],
    ['a mount of a missing volume', 'Deployment', (o) => { o.spec.template.spec.containers[0].volumeMounts = [{ name: 'nope', mountPath: '/x' }]; }, /no volume named "nope"/],
    ['an unknown protocol', 'Service', (o) => { o.spec.ports[0].protocol = 'tcp'; }, /protocol: "tcp" is not one of/],
    ['an unknown RBAC verb', 'ClusterRole', (o) => { o.rules[0].verbs.push('read'); }, /"read" is not one of/],
    ['a binding to a ServiceAccount without namespace', 'RoleBinding', (o) => { delete o.subjects[0].namespace; }, /subjects\[0\]\.namespace: required/],
    ['a namespaced object without namespace', 'ConfigMap', (o) => { delete o.metadata.namespace; }, /metadata\.namespace: required/],
    ['a cluster-scoped object with a namespace', 'ClusterRole', (o) => { o.metadata.namespace = 'x'; }, /cluster-scoped/],
    ['an invalid label value', 'Namespace', (o) => { o.metadata.labels.x = 'has space'; }, /not a valid label value/],
    ['an invalid object name', 'ServiceAccount', (o) => { o.metadata.name = 'Bad_Name'; }, /not a valid ServiceAccount name/],
    ['a webhook without sideEffects', 'ValidatingWebhookConfiguration', (o) => { delete o.webhooks[0].sideEffects; }, /webhooks\[0\]\.sideEffects: required/],
    ['a webhook caBundle that is not base64', 'ValidatingWebhookConfiguration', (o) => { o.webhooks[0].clientConfig.caBundle = '-----BEGIN'; }, /caBundle: not base64/],
    ['a probe with two handlers', 'DaemonSet', (o) => { o.spec.template.spec.containers[0].readinessProbe.tcpSocket = { port: 1 }; }, /exactly one handler/],
    ['a port name longer than 15 characters', 'DaemonSet', (o) => { o.spec.template.spec.containers[0].ports[0].name = 'a-very-long-port-name'; }, /not an IANA service name/],
  ];
  for (const [what, kind, mutate, expected] of cases) {
    it(`GIVEN a ${kind} with ${what} WHEN validated THEN it is refused`, () => {
      const p = problems(kind, mutate);
      assert.ok(p.some((x) => expected.test(x)), `expected ${expected} in ${JSON.stringify(p)}`);
    });
  }

  it('GIVEN an apiVersion/kind bmlb does not render WHEN validated THEN it is refused by name', () => {
    assert.match(validateManifest({ apiVersion: 'v1', kind: 'Banana', metadata: { name: 'x' } })[0]!, /v1\/Banana is not one bmlb renders/);
  });
});
