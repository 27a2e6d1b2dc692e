/**
 * Runs the real `bmlb speaker` command class from the TypeScript sources (no build needed), for the
 * e2e tests that start speakers inside test namespaces: `node --import tsx run-speaker.ts FLAGS...`.
 */
import { fileURLToPath } from 'node:url';
import Speaker from '../../../src/commands/speaker.js';

try {
  await Speaker.run(process.argv.slice(2), fileURLToPath(new URL('../../../', import.meta.url)));
} catch (e) {
  const exit = (e as { oclif?: { exit?: number } }).oclif?.exit;
  if (exit === undefined) throw e;
  process.exitCode = exit;
}
