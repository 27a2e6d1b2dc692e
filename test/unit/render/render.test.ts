import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { parse } from 'yaml';
import type { ClusterConfig } from '../../../src/config/model.js';
import { NAMES } from '../../../src/config/model.js';
import { parseSpeakerConfig, toSpeakerConfig } from '../../../src/config/speaker-config.js';
import { isUserError } from '../../../src/errors.js';
import { NODE_PATHS } from '../../../src/render/layout.js';
import { advertIntSeconds, nodeContexts, vrrpPriority } from '../../../src/render/node-context.js';
import { haproxyCommand, keepalivedCommand, renderAll, type RenderInput, type Rendered } from '../../../src/render/render-all.js';
import { compileTemplates, loadTemplates, readTemplateSources, yamlBlock } from '../../../src/render/templates.js';
import type { KubeObject } from '../../../src/render/kube-object.js';
import { validateManifest } from '../../../src/render/manifest-schema.js';
import { samples } from './samples.js';

const [lab, v6] = samples() as [ReturnType<typeof samples>[0], ReturnType<typeof samples>[0]];
const templates = loadTemplates();

function withConfig(input: RenderInput, change: (c: ClusterConfig) => void): RenderInput {
  const config = structuredClone(input.config);
  change(config);
  return { ...input, config };
}

function nodeFile(r: Rendered, i: number, path: string): string {
  const f = r.nodes[i]!.files.find((x) => x.path === path);
  assert.ok(f, `node ${i} has ${path}`);
  return f.content;
}

function find(r: Rendered, kind: string, name: string): KubeObject {
  const o = r.manifests.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(o, `${kind} ${name} rendered`);
  return o;
}

function throwsUserError(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isUserError(e), `expected a UserError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.ok(e.suggestions.length > 0, 'a UserError says what to do');
    return true;
  });
}

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }
const rules = (o: KubeObject): Rule[] => o.rules as Rule[];
/** Every (group, resource, verb, names) a role grants. */
function grants(o: KubeObject): string[] {
  return rules(o).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) =>
    `${g || 'core'}/${res}:${v}${r.resourceNames ? `[${r.resourceNames.join(',')}]` : ''}`))));
}

describe('VRRP priorities and timers', () => {
  it('GIVEN 1 to 150 LB nodes WHEN priorities are assigned THEN they are distinct, descending, between 1 and 150', () => {
    for (let n = 1; n <= 150; n++) {
      const p = Array.from({ length: n }, (_, i) => vrrpPriority(i, n));
      assert.equal(new Set(p).size, n);
      assert.equal(p[0], 150);
      assert.ok(p.every((x, i) => x >= 1 && (i === 0 || x < p[i - 1]!)), `n=${n}: ${p.join(',')}`);
    }
  });

  it('GIVEN 151 LB nodes WHEN priorities are assigned THEN a UserError says how many fit', () => {
    throwsUserError(() => vrrpPriority(0, 151), 'TooManyLoadBalancerNodes');
  });

  it('GIVEN advert intervals in ms WHEN converted THEN keepalived gets seconds with two decimals', () => {
    assert.equal(advertIntSeconds(200), '0.20');
    assert.equal(advertIntSeconds(1000), '1.00');
    assert.equal(advertIntSeconds(10), '0.01');
    assert.equal(advertIntSeconds(40950), '40.95');
    throwsUserError(() => advertIntSeconds(5), 'VrrpAdvertIntervalInvalid');
    throwsUserError(() => advertIntSeconds(50000), 'VrrpAdvertIntervalInvalid');
  });

  it('GIVEN the lab sample WHEN rendered THEN every node is BACKUP with nopreempt, priorities 150/140/130, VRRPv3 at 0.20 s, same router id', () => {
    const r = renderAll(lab.input);
    const confs = r.nodes.map((_, i) => nodeFile(r, i, NODE_PATHS.keepalivedConf));
    assert.deepEqual(confs.map((c) => /priority (\d+)/.exec(c)?.[1]), ['150', '140', '130']);
    for (const c of confs) {
      assert.match(c, /vrrp_version 3/);
      assert.match(c, /state BACKUP\n\s+nopreempt/);
      assert.match(c, /advert_int 0\.20\n/);
      assert.match(c, /virtual_router_id 51\n/);
      assert.match(c, /garp_master_repeat 5\n/);
      assert.match(c, /198\.51\.100\.10\/24 dev eth0/);
      assert.doesNotMatch(c, /unicast_peer/);
      assert.match(c, /track_script/);
    }
  });

  it('GIVEN unicast VRRP WHEN rendered THEN each node sends from its own k8sIP to every other LB node and never to itself', () => {
    const r = renderAll(v6.input);
    const k8sIPs = v6.input.config.loadBalancer.nodes.map((n) => n.k8sIP);
    r.nodes.forEach((_, i) => {
      const c = nodeFile(r, i, NODE_PATHS.keepalivedConf);
      assert.match(c, new RegExp(`unicast_src_ip ${k8sIPs[i]}\\n`));
      assert.match(c, /check_unicast_src\n/);
      const peers = /unicast_peer \{\n([^}]*)\}/.exec(c)?.[1]?.trim().split(/\s+/);
      assert.deepEqual(peers, k8sIPs.filter((_, j) => j !== i));
    });
    // The node reached over IPv4 but clustered over IPv6 uses its own interface facts.
    assert.match(nodeFile(r, 1, NODE_PATHS.keepalivedConf), /2001:db8:100::10\/64 dev ens3/);
  });

  it('GIVEN unicast VRRP with IPv4 node addresses and an IPv6 VIP WHEN rendered THEN a UserError explains the family mismatch', () => {
    const input = withConfig(lab.input, (c) => { c.loadBalancer.bmlb.vrrp.unicast = true; c.loadBalancer.controlPlaneVIP = '2001:db8:100::10'; });
    throwsUserError(() => renderAll(input, templates), 'VrrpUnicastFamilyMismatch');
  });

  it('GIVEN an IPv6 VIP on IPv4 nodes (multicast) WHEN rendered THEN the VIP is added as a /128 host address', () => {
    const input = withConfig(lab.input, (c) => { c.loadBalancer.controlPlaneVIP = '2001:db8:100::10'; });
    const c = nodeFile(renderAll(input, templates), 0, NODE_PATHS.keepalivedConf);
    assert.match(c, /2001:db8:100::10\/128 dev eth0/);
  });
});

describe('HAProxy', () => {
  it('GIVEN the lab sample WHEN rendered THEN HAProxy binds VIP:port and checks every control-plane apiserver /readyz on 6444', () => {
    const c = nodeFile(renderAll(lab.input, templates), 0, NODE_PATHS.haproxyCfg);
    assert.match(c, /bind 198\.51\.100\.10:443\n/);
    assert.match(c, /server apiserver-1 198\.51\.100\.11:6444\n/);
    assert.match(c, /option httpchk GET \/readyz/);
    assert.match(c, /http-check expect status 200/);
    assert.match(c, /default-server check check-ssl verify none inter 1s fall 2 rise 2 on-marked-down shutdown-sessions/);
    assert.match(c, /monitor-uri \/healthz/);
    assert.doesNotMatch(c, /^\s*daemon\b/m, 'HAProxy must stay in the foreground');
  });

  it('GIVEN IPv6 addresses WHEN rendered THEN HAProxy gets them in brackets', () => {
    const c = nodeFile(renderAll(v6.input, templates), 0, NODE_PATHS.haproxyCfg);
    assert.match(c, /bind \[2001:db8:100::10\]:8443\n/);
    assert.match(c, /server apiserver-2 \[2001:db8:100::12\]:6444\n/);
  });

  it('GIVEN no control-plane nodes WHEN rendered THEN a UserError says HAProxy would have no backend', () => {
    const input = withConfig(lab.input, (c) => { c.controlPlane.nodes = []; });
    throwsUserError(() => renderAll(input, templates), 'RenderNoControlPlaneNodes');
  });
});

describe('static pods', () => {
  const r = renderAll(lab.input, templates);
  const pods = [NODE_PATHS.keepalivedManifest, NODE_PATHS.haproxyManifest].map((p) => parse(nodeFile(r, 0, p)) as {
    metadata: { namespace: string; annotations: Record<string, string> };
    spec: { hostNetwork: boolean; priorityClassName: string; volumes: { name: string; hostPath: { path: string } }[];
      containers: { command: string[]; volumeMounts: { name: string; mountPath: string }[]; securityContext: { capabilities: { add: string[]; drop: string[] } } }[] };
  });

  it('GIVEN the static pods WHEN read THEN they are hostNetwork, system-node-critical, in kube-system, and mount host paths at identical paths', () => {
    for (const pod of pods) {
      assert.equal(pod.metadata.namespace, 'kube-system');
      assert.equal(pod.spec.hostNetwork, true);
      assert.equal(pod.spec.priorityClassName, 'system-node-critical');
      for (const m of pod.spec.containers[0]!.volumeMounts) {
        const v = pod.spec.volumes.find((x) => x.name === m.name);
        assert.equal(v?.hostPath.path, m.mountPath);
      }
    }
  });

  it('GIVEN the static pods WHEN read THEN capabilities are minimal: all dropped, keepalived adds NET_ADMIN/NET_BROADCAST/NET_RAW (+SYS_NICE for real-time scheduling), HAProxy NET_BIND_SERVICE', () => {
    assert.deepEqual(pods[0]!.spec.containers[0]!.securityContext.capabilities, { drop: ['ALL'], add: ['NET_ADMIN', 'NET_BROADCAST', 'NET_RAW', 'SYS_NICE'] });
    assert.deepEqual(pods[1]!.spec.containers[0]!.securityContext.capabilities, { drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
  });

  it('GIVEN the installed keepalived and HAProxy WHEN asked for their options THEN every flag of the pod commands exists', () => {
    const khelp = spawnSync('keepalived', ['--help'], { encoding: 'utf8' });
    const ktext = `${khelp.stdout}${khelp.stderr}`;
    for (const flag of keepalivedCommand().filter((a) => a.startsWith('-'))) {
      assert.ok(ktext.includes(flag.startsWith('--') ? `${flag}` : `${flag},`), `keepalived --help lists ${flag}`);
    }
    const h = spawnSync('haproxy', ['-h'], { encoding: 'utf8' });
    const htext = `${h.stdout}${h.stderr}`;
    for (const flag of haproxyCommand().filter((a) => a.startsWith('-'))) assert.ok(htext.includes(`${flag} `), `haproxy -h lists ${flag}`);
    assert.deepEqual(pods.map((p) => p.spec.containers[0]!.command), [keepalivedCommand(), haproxyCommand()]);
  });

  it('GIVEN a VRRP change WHEN rendered again THEN only the keepalived pod\'s config hash changes (the pod restarts), HAProxy\'s stays', () => {
    const changed = renderAll(withConfig(lab.input, (c) => { c.loadBalancer.bmlb.vrrp.advertIntervalMs = 300; }), templates);
    const hash = (x: Rendered, p: string): string => (parse(nodeFile(x, 0, p)) as typeof pods[0]).metadata.annotations['bmlb.io/config-sha256']!;
    assert.notEqual(hash(changed, NODE_PATHS.keepalivedManifest), hash(r, NODE_PATHS.keepalivedManifest));
    assert.equal(hash(changed, NODE_PATHS.haproxyManifest), hash(r, NODE_PATHS.haproxyManifest));
  });

  it('GIVEN node files WHEN listed THEN configs come before manifests, with explicit modes', () => {
    for (const n of r.nodes) {
      assert.deepEqual(n.files.map((f) => [f.path, f.mode]), [
        [NODE_PATHS.keepalivedConf, 0o644], [NODE_PATHS.haproxyCfg, 0o644],
        [NODE_PATHS.keepalivedManifest, 0o600], [NODE_PATHS.haproxyManifest, 0o600],
      ]);
    }
  });
});

describe('in-cluster manifests', () => {
  const r = renderAll(lab.input, templates);

  it('GIVEN the lab sample WHEN rendered THEN the ConfigMap holds exactly the speaker config of the cluster file', () => {
    const cm = find(r, 'ConfigMap', NAMES.configMap);
    const data = (cm.data as Record<string, string>)[NAMES.configKey]!;
    assert.equal(data, r.configMapData);
    const parsed = parseSpeakerConfig(data);
    assert.ok(parsed.ok, JSON.stringify(parsed));
    assert.deepEqual(parsed.config, toSpeakerConfig(lab.input.config));
    assert.equal(cm.metadata.labels?.['app.kubernetes.io/managed-by'], 'bmlb');
    assert.match(cm.metadata.annotations?.['bmlb.io/generated'] ?? '', /bmlb update cluster/);
  });

  it('GIVEN the manifests WHEN listed THEN the namespace comes first, RBAC before workloads, the config before the pods that read it', () => {
    const idx = (kind: string, name: string): number => r.manifests.findIndex((m) => m.kind === kind && m.metadata.name === name);
    assert.equal(idx('Namespace', NAMES.namespace), 0);
    assert.ok(idx('ClusterRoleBinding', 'bmlb-speaker') < idx('DaemonSet', 'bmlb-speaker'));
    assert.ok(idx('RoleBinding', 'bmlb-controller') < idx('Deployment', 'bmlb-controller'));
    assert.ok(idx('ConfigMap', NAMES.configMap) < idx('Deployment', 'bmlb-controller'));
    assert.ok(idx('ConfigMap', NAMES.configMap) < idx('DaemonSet', 'bmlb-speaker'));
  });

  it('GIVEN the speaker DaemonSet WHEN read THEN it runs `bmlb speaker` on LB nodes with the agreed flags, NODE_NAME and host networking', () => {
    const ds = find(r, 'DaemonSet', 'bmlb-speaker') as KubeObject & { spec: any };
    const pod = ds.spec.template.spec;
    assert.deepEqual(pod.nodeSelector, { [NAMES.lbNodeLabel]: 'true' });
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.equal(pod.serviceAccountName, NAMES.speakerServiceAccount);
    const c = pod.containers[0];
    assert.deepEqual(c.command, ['bmlb', 'speaker']);
    assert.deepEqual(c.args, ['--node-name=$(NODE_NAME)', '--namespace=bmlb-system', '--config-map=bmlb-config', '--member-secret=bmlb-memberlist', '--metrics-port=7472']);
    assert.deepEqual(c.env, [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }]);
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/healthz', port: 7472 });
    assert.deepEqual(c.securityContext.capabilities.add, ['NET_RAW', 'NET_ADMIN']);
    assert.deepEqual(ds.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    assert.ok(pod.tolerations.some((t: { key: string }) => t.key === 'node-role.kubernetes.io/control-plane'));
    assert.equal(c.image, 'bmlb:0.1.0');
  });

  it('GIVEN a non-default metrics port WHEN rendered THEN the speaker flag, port and probe follow it', () => {
    const ds = find(renderAll(v6.input, templates), 'DaemonSet', 'bmlb-speaker') as KubeObject & { spec: any };
    const c = ds.spec.template.spec.containers[0];
    assert.ok(c.args.includes('--metrics-port=9472'));
    assert.equal(c.readinessProbe.httpGet.port, 9472);
    assert.equal(c.image, 'registry.example.test/bmlb/bmlb:0.2.0');
  });

  it('GIVEN the controller Deployment WHEN read THEN one replica runs `bmlb controller` on LB nodes, host network, ready on /readyz', () => {
    const d = find(r, 'Deployment', 'bmlb-controller') as KubeObject & { spec: any };
    const pod = d.spec.template.spec;
    assert.equal(d.spec.replicas, 1);
    assert.deepEqual(pod.nodeSelector, { [NAMES.lbNodeLabel]: 'true' });
    assert.equal(pod.hostNetwork, true);
    assert.deepEqual(pod.containers[0].command, ['bmlb', 'controller']);
    assert.deepEqual(pod.containers[0].args, ['--namespace=bmlb-system', '--config-map=bmlb-config', '--metrics-port=7473']);
    assert.deepEqual(pod.containers[0].readinessProbe.httpGet, { path: '/readyz', port: 7473 });
  });

  it('GIVEN the speaker RBAC WHEN read THEN it may only read what it watches, patch Services, write Events, get its own ConfigMap and Secret', () => {
    assert.deepEqual(grants(find(r, 'ClusterRole', 'bmlb-speaker')).sort(), [
      'core/events:create', 'core/events:get', 'core/events:patch',
      'core/nodes:get', 'core/nodes:list', 'core/nodes:watch',
      'core/services:get', 'core/services:list', 'core/services:patch', 'core/services:watch',
      'discovery.k8s.io/endpointslices:get', 'discovery.k8s.io/endpointslices:list', 'discovery.k8s.io/endpointslices:watch',
    ]);
    const role = find(r, 'Role', 'bmlb-speaker');
    assert.equal(role.metadata.namespace, NAMES.namespace);
    assert.deepEqual(grants(role).sort(), [
      'core/configmaps:get[bmlb-config]', 'core/configmaps:list', 'core/configmaps:watch', 'core/secrets:get[bmlb-memberlist]',
    ]);
  });

  it('GIVEN the controller RBAC WHEN read THEN it may write Service status and annotations, Events, its Lease, and update only bmlb-config', () => {
    assert.deepEqual(grants(find(r, 'ClusterRole', 'bmlb-controller')).sort(), [
      'core/events:create', 'core/events:get', 'core/events:patch',
      'core/nodes:get', 'core/nodes:list', 'core/nodes:watch',
      'core/services/status:patch', 'core/services/status:update',
      'core/services:get', 'core/services:list', 'core/services:patch', 'core/services:watch',
      'discovery.k8s.io/endpointslices:get', 'discovery.k8s.io/endpointslices:list', 'discovery.k8s.io/endpointslices:watch',
    ]);
    assert.deepEqual(grants(find(r, 'Role', 'bmlb-controller')).sort(), [
      'coordination.k8s.io/leases:create', 'coordination.k8s.io/leases:get[bmlb-controller]', 'coordination.k8s.io/leases:update[bmlb-controller]',
      'core/configmaps:create', 'core/configmaps:get', 'core/configmaps:list', 'core/configmaps:update[bmlb-config]', 'core/configmaps:watch',
    ]);
  });

  it('GIVEN any role WHEN read THEN no rule uses a wildcard or grants delete, escalate, bind or impersonate', () => {
    for (const m of r.manifests.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
      for (const rule of rules(m)) {
        for (const v of [...rule.apiGroups, ...rule.resources, ...rule.verbs]) assert.notEqual(v, '*');
        for (const bad of ['delete', 'deletecollection', 'escalate', 'bind', 'impersonate']) assert.ok(!rule.verbs.includes(bad), `${m.metadata.name} grants ${bad}`);
      }
    }
  });

  it('GIVEN bindings WHEN read THEN each binds its role to the matching ServiceAccount in bmlb-system', () => {
    for (const b of r.manifests.filter((x) => x.kind.endsWith('Binding'))) {
      const subjects = b.subjects as { kind: string; name: string; namespace: string }[];
      const roleRef = b.roleRef as { kind: string; name: string };
      assert.equal(roleRef.name, b.metadata.name);
      assert.deepEqual(subjects, [{ kind: 'ServiceAccount', name: b.metadata.name, namespace: NAMES.namespace }]);
    }
  });

  it('GIVEN no webhook CA WHEN rendered THEN no webhook objects are rendered', () => {
    assert.ok(!r.manifests.some((m) => m.kind === 'ValidatingWebhookConfiguration' || (m.kind === 'Service' && m.metadata.name === NAMES.webhookService)));
  });

  it('GIVEN a webhook CA WHEN rendered THEN the Service and a failing-closed webhook guard bmlb-owned ConfigMaps and Secrets, after the workloads', () => {
    const out = renderAll(v6.input, templates);
    const vwc = find(out, 'ValidatingWebhookConfiguration', 'bmlb-config-guard') as KubeObject & { webhooks: any[] };
    assert.ok(out.manifests.indexOf(vwc) > out.manifests.findIndex((m) => m.kind === 'Deployment'));
    assert.equal(vwc.kind, 'ValidatingWebhookConfiguration');
    const h = vwc.webhooks[0];
    assert.equal(h.failurePolicy, 'Fail');
    assert.equal(h.sideEffects, 'None');
    assert.deepEqual(h.rules[0].operations, ['CREATE', 'UPDATE', 'DELETE']);
    assert.deepEqual(h.rules[0].resources, ['configmaps', 'secrets']);
    assert.deepEqual(h.objectSelector, { matchLabels: { 'app.kubernetes.io/managed-by': 'bmlb' } });
    assert.deepEqual(h.namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': NAMES.namespace } });
    assert.equal(Buffer.from(h.clientConfig.caBundle, 'base64').toString('utf8'), v6.input.webhookCA);
    assert.deepEqual(h.clientConfig.service, { namespace: NAMES.namespace, name: NAMES.webhookService, path: '/validate-bmlb-config', port: 443 });
    const svc = find(out, 'Service', NAMES.webhookService) as KubeObject & { spec: any };
    assert.deepEqual(svc.spec.ports[0], { name: 'https', port: 443, targetPort: 9443, protocol: 'TCP' });
  });

  it('GIVEN admission: policy WHEN rendered with a webhook CA THEN no webhook is rendered', () => {
    const out = renderAll(withConfig(v6.input, (c) => { c.loadBalancer.bmlb.admission = 'policy'; }), templates);
    assert.ok(!out.manifests.some((m) => m.kind === 'ValidatingWebhookConfiguration'));
  });

  it('GIVEN admission: both and the installer username WHEN rendered THEN a failing-closed policy admits only the installer and the controller, bound with Deny', () => {
    const out = renderAll(v6.input, templates);
    const vap = find(out, 'ValidatingAdmissionPolicy', 'bmlb-config-guard') as KubeObject & { spec: any };
    assert.equal(vap.spec.failurePolicy, 'Fail');
    assert.deepEqual(vap.spec.matchConstraints.objectSelector, { matchLabels: { 'app.kubernetes.io/managed-by': 'bmlb' } });
    assert.deepEqual(vap.spec.matchConstraints.resourceRules[0].resources, ['configmaps', 'secrets']);
    assert.deepEqual(vap.spec.matchConstraints.resourceRules[0].operations, ['CREATE', 'UPDATE', 'DELETE']);
    assert.equal(vap.spec.validations[0].expression,
      'request.userInfo.username in ["bmlb-installer","system:serviceaccount:bmlb-system:bmlb-controller"]');
    assert.match(vap.spec.validations[0].message, /bmlb update cluster -c v6cp/);
    const binding = find(out, 'ValidatingAdmissionPolicyBinding', 'bmlb-config-guard') as KubeObject & { spec: any };
    assert.deepEqual(binding.spec, { policyName: 'bmlb-config-guard', validationActions: ['Deny'] });
    assert.equal(out.manifests.at(-1), binding);
  });

  it('GIVEN admission: webhook, or no installer username WHEN rendered THEN no admission policy is rendered', () => {
    const noPolicy = (r: Rendered): boolean => !r.manifests.some((m) => m.kind.startsWith('ValidatingAdmissionPolicy'));
    assert.ok(noPolicy(renderAll(withConfig(v6.input, (c) => { c.loadBalancer.bmlb.admission = 'webhook'; }), templates)));
    assert.ok(noPolicy(renderAll({ ...v6.input, installerUsername: undefined }, templates)));
    const policyOnly = renderAll(withConfig(v6.input, (c) => { c.loadBalancer.bmlb.admission = 'policy'; }), templates);
    assert.ok(!noPolicy(policyOnly));
  });

  it('GIVEN an installer username that could break out of the CEL string WHEN rendered THEN a UserError refuses it', () => {
    throwsUserError(() => renderAll({ ...v6.input, installerUsername: 'x" || true || "' }, templates), 'RenderInstallerUserInvalid');
  });

  it('GIVEN a webhook CA that is not PEM WHEN rendered THEN a UserError says so', () => {
    throwsUserError(() => renderAll({ ...v6.input, webhookCA: 'not a certificate' }, templates), 'RenderCaInvalid');
  });
});

describe('render errors', () => {
  it('GIVEN manual mode WHEN rendered THEN a UserError says bmlb installs nothing', () => {
    throwsUserError(() => renderAll(withConfig(lab.input, (c) => { c.loadBalancer.mode = 'manual'; }), templates), 'LoadBalancerNotBundled');
  });

  it('GIVEN an LB node without facts WHEN rendered THEN a UserError names the node', () => {
    const { ['198.51.100.22']: _dropped, ...rest } = lab.input.nodeFacts;
    assert.throws(() => renderAll({ ...lab.input, nodeFacts: rest }, templates), /198\.51\.100\.22/);
    throwsUserError(() => renderAll({ ...lab.input, nodeFacts: rest }, templates), 'RenderNodeFactsMissing');
  });

  it('GIVEN facts with a hostile interface name or hostname WHEN rendered THEN a UserError refuses them (nothing reaches keepalived.conf)', () => {
    for (const bad of [{ interface: 'eth0 }\nfoo {' }, { interface: 'x'.repeat(16) }, { hostname: 'lb1"; rm' }, { prefixLength: 33 }]) {
      const facts = { ...lab.input.nodeFacts, '198.51.100.21': { ...lab.input.nodeFacts['198.51.100.21']!, ...bad } };
      throwsUserError(() => renderAll({ ...lab.input, nodeFacts: facts }, templates), 'RenderNodeFactsInvalid');
    }
  });

  it('GIVEN a bad image reference WHEN rendered THEN a UserError says so', () => {
    throwsUserError(() => renderAll({ ...lab.input, bmlbImage: 'bmlb 0.1' }, templates), 'RenderImageInvalid');
  });
});

describe('templates in strict mode', () => {
  it('GIVEN a template that uses a variable its context lacks WHEN rendered THEN it throws instead of printing nothing', () => {
    const sources = readTemplateSources();
    const broken = compileTemplates({ ...sources, 'haproxy.cfg': `${sources['haproxy.cfg']}\n# {{noSuchValue}}\n` });
    assert.throws(() => renderAll(lab.input, broken), /noSuchValue/);
  });

  it('GIVEN a context missing a value the template prints WHEN rendered THEN strict mode throws', () => {
    const ctx = nodeContexts(lab.input.config, lab.input.nodeFacts)[0]!.keepalived;
    assert.ok(templates['keepalived.conf'](ctx).length > 0);
    const { clusterName: _name, ...withoutName } = ctx;
    assert.throws(() => templates['keepalived.conf'](withoutName), /"clusterName" not defined/);
    assert.throws(() => templates['haproxy.cfg']({ ...nodeContexts(lab.input.config, lab.input.nodeFacts)[0]!.haproxy, servers: [{ name: 'a' }] }), /"address" not defined/);
  });

  it('GIVEN any text WHEN written as a YAML block by the templates THEN YAML reads back exactly that text', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ maxLength: 40 }), (a, b) => {
      const text = `${a}\n${b}\n`;
      const doc = `data:\n  key: ${yamlBlock(text, 4)}\n`;
      assert.equal((parse(doc) as { data: { key: string } }).data.key, text);
    }), { numRuns: 300 });
  });
});

describe('any valid pool of LB nodes', () => {
  it('GIVEN 1–20 LB nodes, either VRRP mode, any advert interval and ports WHEN rendered THEN every object passes the schema, priorities are distinct and every node peers with all others', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 20 }), fc.boolean(), fc.integer({ min: 1, max: 4095 }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 255 }),
      (n, unicast, advertCs, lbPort, vrid) => {
        const input = withConfig(lab.input, (c) => {
          c.loadBalancer.nodes = Array.from({ length: n }, (_, i) => ({ address: `198.51.100.${30 + i}`, k8sIP: `198.51.100.${30 + i}` }));
          c.loadBalancer.bmlb.vrrp = { ...c.loadBalancer.bmlb.vrrp, unicast, advertIntervalMs: advertCs * 10, virtualRouterId: vrid };
          c.loadBalancer.controlPlaneLBPort = lbPort;
        });
        input.nodeFacts = Object.fromEntries(input.config.loadBalancer.nodes.map((x, i) => [x.address, { interface: 'eth0', prefixLength: 24, hostname: `lb${i + 1}` }]));
        const r = renderAll(input, templates);
        assert.equal(r.nodes.length, n);
        const priorities = r.nodes.map((_, i) => Number(/priority (\d+)/.exec(nodeFile(r, i, NODE_PATHS.keepalivedConf))![1]));
        assert.equal(new Set(priorities).size, n);
        r.nodes.forEach((node, i) => {
          const conf = nodeFile(r, i, NODE_PATHS.keepalivedConf);
          assert.match(conf, new RegExp(`advert_int ${(advertCs / 100).toFixed(2)}\\n`));
          const peers = /unicast_peer \{\n([^}]*)\}/.exec(conf)?.[1]?.trim().split(/\s+/).filter(Boolean) ?? [];
          assert.equal(peers.length, unicast ? n - 1 : 0);
          assert.ok(!peers.includes(node.address));
          for (const p of [NODE_PATHS.keepalivedManifest, NODE_PATHS.haproxyManifest]) assert.deepEqual(validateManifest(parse(nodeFile(r, i, p))), []);
          assert.match(nodeFile(r, i, NODE_PATHS.haproxyCfg), new RegExp(`bind 198\\.51\\.100\\.10:${lbPort}\\n`));
        });
        for (const m of r.manifests) assert.deepEqual(validateManifest(m), []);
      },
    ), { numRuns: 40 });
  });
});

describe('template hygiene', () => {
  it('GIVEN the templates directory WHEN listed THEN it holds exactly the templates the renderer compiles', async () => {
    const { readdirSync } = await import('node:fs');
    const { bundledTemplatesDir, TEMPLATE_NAMES } = await import('../../../src/render/templates.js');
    const files = readdirSync(bundledTemplatesDir()).filter((f) => f.endsWith('.hbs')).map((f) => f.slice(0, -4)).sort();
    assert.deepEqual(files, [...TEMPLATE_NAMES].sort());
  });

  it('GIVEN every sample WHEN rendered THEN no output contains undefined, null, NaN, [object Object] or an unrendered {{', () => {
    for (const s of samples()) {
      const r = renderAll(s.input, templates);
      const texts = [...r.nodes.flatMap((n) => n.files.map((f) => f.content)), JSON.stringify(r.manifests), r.configMapData];
      for (const t of texts) assert.doesNotMatch(t, /\bundefined\b|(?<!\/dev\/)\bnull\b|\bNaN\b|\[object Object\]|\{\{/);
    }
  });
});
