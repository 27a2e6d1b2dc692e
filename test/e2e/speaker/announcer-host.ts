/**
 * Runs one L2Announcer inside a test namespace and obeys line commands on stdin:
 *   announce IP | withdraw IP | stats | quit
 * Each command is answered with one JSON line on stdout; `{"ready":...}` is printed first.
 * Started by the e2e tests with `ip netns exec NS node --import tsx announcer-host.ts IFACE REPEAT`.
 */
import { createInterface } from 'node:readline';
import { openL2Announcer } from '../../../src/speaker/layer2/announcer.js';

const [iface = 'eth0', repeat = '3'] = process.argv.slice(2);
const announcer = await openL2Announcer({
  interfaceName: iface,
  garpRepeat: Number(repeat),
  garpIntervalMs: 50,
  log: (l) => process.stderr.write(`${l}\n`),
});
const out = (v: unknown): void => { process.stdout.write(`${JSON.stringify(v)}\n`); };
out({ ready: true, mac: announcer.mac });
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg = ''] = line.trim().split(/\s+/);
  if (cmd === 'announce') out({ changed: announcer.announce(arg), announced: announcer.announced() });
  else if (cmd === 'withdraw') out({ changed: announcer.withdraw(arg), announced: announcer.announced() });
  else if (cmd === 'stats') out({ stats: announcer.stats(), announced: announcer.announced() });
  else if (cmd === 'quit') { announcer.close(); rl.close(); out({ closed: true }); }
  else out({ error: `unknown command ${line}` });
});
rl.on('close', () => announcer.close());
