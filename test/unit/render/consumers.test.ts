/**
 * Every rendered file checked by its real consumer:
 *  - keepalived.conf by `keepalived --config-test` on a sandbox node that has the node's
 *    interface and address (keepalived refuses unknown interfaces, so the check runs there);
 *  - haproxy.cfg by `haproxy -c`;
 *  - every Kubernetes object (static pods included) by the offline schema in
 *    src/render/manifest-schema.ts (structure from the Kubernetes OpenAPI models).
 * And the pair working together: keepalived + HAProxy started with exactly the static pods'
 * commands take the VIP, forward to a TLS "apiserver", give the VIP up when the apiserver dies
 * and take it back when it returns.
 * Root only (network namespaces); CI runs as root.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { parseIp } from '../../../src/net/address.js';
import { renderAll, type Rendered, type RenderInput } from '../../../src/render/render-all.js';
import { validateManifest } from '../../../src/render/manifest-schema.js';
import { NODE_PATHS, PORTS } from '../../../src/render/layout.js';
import { NodeSandbox, startFakeApiserver, waitFor } from './node-sandbox.js';
import { samples } from './samples.js';

const rendered: { name: string; input: RenderInput; out: Rendered }[] = samples().map((s) => ({ name: s.name, input: s.input, out: renderAll(s.input) }));

function file(out: Rendered, address: string, path: string): string {
  const n = out.nodes.find((x) => x.address === address);
  const f = n?.files.find((x) => x.path === path);
  if (!f) throw new Error(`no ${path} for ${address}`);
  return f.content;
}

function nodeCidr(input: RenderInput, address: string): { iface: string; cidr: string } {
  const node = input.config.loadBalancer.nodes.find((n) => n.address === address)!;
  const facts = input.nodeFacts[address]!;
  return { iface: facts.interface, cidr: `${node.k8sIP}/${facts.prefixLength}` };
}

describe('rendered configs pass their real consumers', () => {
  for (const { name, input, out } of rendered) {
    for (const node of out.nodes) {
      it(`GIVEN sample ${name} node ${node.address} WHEN keepalived --config-test reads its keepalived.conf THEN it exits 0 with no warnings`, async (t) => {
        const { iface, cidr } = nodeCidr(input, node.address);
        const box = new NodeSandbox(iface, [cidr]);
        t.after(() => box.close());
        box.writeEtcBmlb(NODE_PATHS.keepalivedConf, file(out, node.address, NODE_PATHS.keepalivedConf));
        const r = box.run(['keepalived', '--config-test', '-f', NODE_PATHS.keepalivedConf]);
        assert.equal(r.code, 0, `keepalived --config-test failed:\n${r.stdout}${r.stderr}`);
        assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'keepalived printed warnings');
      });

      it(`GIVEN sample ${name} node ${node.address} WHEN haproxy -c reads its haproxy.cfg THEN it is valid with no warnings`, async (t) => {
        const { iface, cidr } = nodeCidr(input, node.address);
        const box = new NodeSandbox(iface, [cidr]);
        t.after(() => box.close());
        box.writeEtcBmlb(NODE_PATHS.haproxyCfg, file(out, node.address, NODE_PATHS.haproxyCfg));
        const r = box.run(['haproxy', '-c', '-f', NODE_PATHS.haproxyCfg]);
        const text = `${r.stdout}${r.stderr}`;
        assert.equal(r.code, 0, `haproxy -c failed:\n${text}`);
        assert.match(text, /Configuration file is valid/);
        assert.doesNotMatch(text, /\[(WARNING|ALERT)\]/, `haproxy -c warned:\n${text}`);
      });

      it(`GIVEN sample ${name} node ${node.address} WHEN its static pod manifests are validated THEN they match the Pod schema`, () => {
        for (const path of [NODE_PATHS.keepalivedManifest, NODE_PATHS.haproxyManifest]) {
          const obj: unknown = parse(file(out, node.address, path));
          assert.deepEqual(validateManifest(obj), [], `${path} of ${node.address}`);
        }
      });
    }

    it(`GIVEN sample ${name} WHEN every in-cluster manifest is validated THEN none has a schema error`, () => {
      assert.ok(out.manifests.length >= 10);
      for (const m of out.manifests) assert.deepEqual(validateManifest(m), [], `${m.kind} ${m.metadata.name}`);
    });
  }
});

describe('the consumer checks can fail (controls)', () => {
  const { input, out } = rendered[0]!;
  const address = out.nodes[0]!.address;

  it('GIVEN a keepalived.conf for an interface the node lacks WHEN config-tested THEN keepalived refuses it', async (t) => {
    const { cidr } = nodeCidr(input, address);
    const box = new NodeSandbox('eth1', [cidr]);
    t.after(() => box.close());
    box.writeEtcBmlb(NODE_PATHS.keepalivedConf, file(out, address, NODE_PATHS.keepalivedConf));
    const r = box.run(['keepalived', '--config-test', '-f', NODE_PATHS.keepalivedConf]);
    assert.notEqual(r.code, 0);
    assert.match(`${r.stdout}${r.stderr}`, /eth0/);
  });

  it('GIVEN a keepalived.conf with a misspelt keyword WHEN config-tested THEN keepalived reports it', async (t) => {
    const { iface, cidr } = nodeCidr(input, address);
    const box = new NodeSandbox(iface, [cidr]);
    t.after(() => box.close());
    box.writeEtcBmlb(NODE_PATHS.keepalivedConf, file(out, address, NODE_PATHS.keepalivedConf).replace('advert_int', 'advert_intt'));
    const r = box.run(['keepalived', '--config-test', '-f', NODE_PATHS.keepalivedConf]);
    assert.match(`${r.stdout}${r.stderr}`, /advert_intt/);
  });

  it('GIVEN a haproxy.cfg with a misspelt keyword WHEN checked THEN haproxy -c fails', async (t) => {
    const { iface, cidr } = nodeCidr(input, address);
    const box = new NodeSandbox(iface, [cidr]);
    t.after(() => box.close());
    box.writeEtcBmlb(NODE_PATHS.haproxyCfg, file(out, address, NODE_PATHS.haproxyCfg).replace('on-marked-down', 'on-marked-dwn'));
    const r = box.run(['haproxy', '-c', '-f', NODE_PATHS.haproxyCfg]);
    assert.notEqual(r.code, 0);
    assert.match(`${r.stdout}${r.stderr}`, /ALERT/);
  });
});

describe('rendered keepalived and HAProxy run together', () => {
  it('GIVEN the lab sample\'s first LB node WHEN keepalived and HAProxy run with the static pods\' commands THEN the VIP comes up, forwards to the apiserver, leaves when the apiserver dies and returns with it', async (t) => {
    const { input, out } = rendered.find((r) => r.name === 'lab')!;
    const address = out.nodes[0]!.address;
    const { iface, cidr } = nodeCidr(input, address);
    const cp = input.config.controlPlane.nodes[0]!.k8sIP;
    const vip = input.config.loadBalancer.controlPlaneVIP;
    const lbPort = input.config.loadBalancer.controlPlaneLBPort;
    assert.equal(parseIp(cp)?.family, 4);
    // The control-plane address lives on the sandbox's loopback: HAProxy reaches the "apiserver" locally.
    const box = new NodeSandbox(iface, [cidr], { loopbackAddresses: [`${cp}/32`], sysctls: { 'net.ipv4.ip_nonlocal_bind': '1' } });
    t.after(() => box.close());

    const startApiserver = () => startFakeApiserver(box, cp, PORTS.apiserver);

    for (const f of out.nodes[0]!.files) if (f.path.startsWith('/etc/bmlb/')) box.writeEtcBmlb(f.path, f.content);
    const podCommand = (path: string): string[] => {
      const pod = parse(file(out, address, path)) as { spec: { containers: { command: string[] }[] } };
      return pod.spec.containers[0]!.command;
    };
    let apiserver = startApiserver();
    const haproxy = box.start(podCommand(NODE_PATHS.haproxyManifest));
    const keepalived = box.start(podCommand(NODE_PATHS.keepalivedManifest));
    const logs = () => `--- keepalived\n${keepalived.log()}\n--- haproxy\n${haproxy.log()}`;
    const vipCidr = `${vip}/${input.nodeFacts[address]!.prefixLength}`;
    const hasVip = () => box.addresses(iface).includes(vipCidr);
    const throughVip = (): string => {
      const r = spawnSync('ip', ['netns', 'exec', box.ns, 'curl', '-sk', '--max-time', '2', `https://${vip}:${lbPort}/readyz`], { encoding: 'utf8' });
      return r.stdout;
    };

    const up = await waitFor(hasVip, 10000);
    assert.ok(up >= 0, `the VIP never came up\n${logs()}`);
    assert.ok((await waitFor(() => throughVip() === 'ok', 5000)) >= 0, `https://${vip}:${lbPort}/readyz did not reach the apiserver\n${logs()}`);

    apiserver.stop();
    const gone = await waitFor(() => !hasVip(), 15000);
    assert.ok(gone >= 0, `the VIP stayed although no apiserver is healthy\n${logs()}`);

    apiserver = startApiserver();
    const back = await waitFor(hasVip, 15000);
    assert.ok(back >= 0, `the VIP did not return with the apiserver\n${logs()}`);
    assert.ok((await waitFor(() => throughVip() === 'ok', 5000)) >= 0, `no forwarding after recovery\n${logs()}`);
    t.diagnostic(`VIP up after ${up} ms; released ${gone} ms after the apiserver stopped; back ${back} ms after it returned`);
  });
});
