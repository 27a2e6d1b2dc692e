// Runs the `bmlb lab node-agent` command class from the TypeScript sources (the e2e tests need no
// build): node --import tsx run-agent.ts --config FILE
import LabNodeAgent from '../../../src/commands/lab/node-agent.js';

await LabNodeAgent.run(process.argv.slice(2), new URL('../../../', import.meta.url).pathname).then(
  () => process.exit(0),
  (e: { oclif?: { exit?: number } }) => process.exit(e?.oclif?.exit ?? 1),
);
