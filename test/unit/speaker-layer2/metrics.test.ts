import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePrometheus, renderPrometheus, startMetricsServer, type MetricFamily } from '../../../src/speaker/metrics.js';

test('GIVEN counter and gauge families WHEN rendered THEN the text follows the exposition format and parses back', () => {
  let arp = 7;
  const families: MetricFamily[] = [
    { name: 'bmlb_speaker_arp_requests_total', help: 'ARP who-has received.', type: 'counter', samples: () => [{ value: arp }] },
    {
      name: 'bmlb_speaker_announced', help: 'Announced IPs\nper Service.', type: 'gauge',
      samples: () => [{ labels: { ip: '198.51.100.200', service: 'default/we"b\\x' }, value: 1 }],
    },
  ];
  const text = renderPrometheus(families);
  assert.equal(text, [
    '# HELP bmlb_speaker_arp_requests_total ARP who-has received.',
    '# TYPE bmlb_speaker_arp_requests_total counter',
    'bmlb_speaker_arp_requests_total 7',
    '# HELP bmlb_speaker_announced Announced IPs\\nper Service.',
    '# TYPE bmlb_speaker_announced gauge',
    'bmlb_speaker_announced{ip="198.51.100.200",service="default/we\\"b\\\\x"} 1',
    '',
  ].join('\n'));
  arp = 9;
  const parsed = parsePrometheus(renderPrometheus(families));
  assert.equal(parsed.get('bmlb_speaker_arp_requests_total'), 9, 'values are read at scrape time');
  assert.equal(parsed.size, 2);
});

test('GIVEN the metrics server WHEN /metrics, /healthz, /readyz and an unknown path are requested THEN each answers as documented', async (t) => {
  let isReady = false;
  const server = await startMetricsServer({
    port: 0,
    host: '127.0.0.1',
    families: () => [{ name: 'bmlb_speaker_members', help: 'Live members.', type: 'gauge', samples: () => [{ value: 3 }] }],
    health: { live: () => true, ready: () => ({ ready: isReady, reasons: isReady ? [] : ['no configuration yet'] }) },
  });
  t.after(() => server.close());
  const base = `http://127.0.0.1:${server.port}`;
  const m = await fetch(`${base}/metrics`);
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  assert.match(await m.text(), /^bmlb_speaker_members 3$/m);
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const notReady = await fetch(`${base}/readyz`);
  assert.equal(notReady.status, 503);
  assert.deepEqual(await notReady.json(), { ready: false, reasons: ['no configuration yet'] });
  isReady = true;
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
  assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
});
