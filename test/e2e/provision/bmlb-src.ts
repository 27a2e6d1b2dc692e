/**
 * Runs one bmlb command from the TypeScript sources (no build needed), as the CLI would:
 *   node --import <tsx loader> test/e2e/provision/bmlb-src.ts create/cluster -c FILE --json
 * Exit code and output are the command's own. Used by the provisioning e2e tests inside the lab's
 * admin namespace.
 */
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const [id, ...argv] = process.argv.slice(2);
if (!id) {
  process.stderr.write('usage: bmlb-src.ts <topic/command> [args]\n');
  process.exit(2);
}
const mod = (await import(`${root}src/commands/${id}.ts`)) as { default: { run(argv: string[], opts: string): Promise<unknown> } };
try {
  await mod.default.run(argv, root);
} catch (e) {
  const exit = (e as { oclif?: { exit?: number } }).oclif?.exit;
  if (typeof exit === 'number') process.exit(exit);
  throw e;
}
