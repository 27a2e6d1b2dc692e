import type { Server } from 'node:net';
import { UserError } from './errors.js';

export interface ListenFailure {
  /** UserError code, e.g. `MetricsPortUnavailable`. */
  code: string;
  /** What the port is for, e.g. "metrics and health". */
  purpose: string;
  /** The flag that moves it, e.g. `--metrics-port`. */
  flag: string;
}

/**
 * Listen on host:port (every address when host is undefined); a busy or forbidden port is a
 * UserError saying which flag moves it.
 */
export async function listenOrFail(server: Server, host: string | undefined, port: number, failure: ListenFailure): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    throw new UserError(`cannot listen on ${host ?? '*'}:${port} for ${failure.purpose}: ${(e as Error).message}`, {
      code: failure.code,
      suggestions: [`Free port ${port} or pass another ${failure.flag}.`],
      cause: e,
    });
  }
}
