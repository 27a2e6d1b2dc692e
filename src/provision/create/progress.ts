/**
 * Running the create phases with progress: listr2 on a terminal, plain lines otherwise, nothing
 * with --json (the result is the output). Every phase line also goes to the run log's run.log.
 */
import { Listr } from 'listr2';
import { type CreateContext, PHASES, runPhasesPlain } from './create-cluster.js';

export type ProgressMode = 'tty' | 'plain' | 'silent';

export async function runCreatePhases(ctx: CreateContext, mode: ProgressMode, write: (line: string) => void): Promise<void> {
  const log = (line: string): void => ctx.session.log.append('run', `${new Date().toISOString()} ${line}`);
  if (mode !== 'tty') {
    await runPhasesPlain(ctx, (line) => {
      log(line);
      if (mode === 'plain') write(line);
    });
    return;
  }
  const list = new Listr(
    PHASES.map((p) => ({
      title: p.title,
      task: async (_: unknown, task: { output: string; title: string }) => {
        const t0 = Date.now();
        log(`• ${p.title}`);
        try {
          await p.run(ctx, (m) => {
            log(`    ${m}`);
            task.output = m;
          });
        } finally {
          ctx.result.durationsMs[p.title] = Date.now() - t0;
        }
        task.title = `${p.title} (${((Date.now() - t0) / 1000).toFixed(1)} s)`;
      },
      rendererOptions: { persistentOutput: true },
    })),
    { concurrent: false, exitOnError: true, rendererOptions: { collapseErrors: false } },
  );
  await list.run();
}
