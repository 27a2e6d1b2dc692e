/**
 * Commands for a non-root loginUser go through `sudo -n -- sh -c '…'`. A stand-in sudo (first on
 * PATH) checks the flags and runs the rest, so the quoting is tested by a real shell.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asRoot } from '../../../src/provision/ssh/ssh-connection.js';
import { shCommand, shQuote } from '../../../src/provision/ssh/shell-quote.js';

describe('running as root through sudo', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bmlbt-provision-sudo-'));
    writeFileSync(join(dir, 'sudo'), '#!/bin/sh\n[ "$1" = "-n" ] || exit 90\nshift\n[ "$1" = "--" ] || exit 91\nshift\nexec "$@"\n', { mode: 0o755 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (line: string): string => execFileSync('sh', ['-c', line], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, X: 'outer' } });

  it('GIVEN root WHEN wrapped THEN the command is unchanged', () => {
    assert.equal(asRoot('root', 'echo hi'), 'echo hi');
  });

  it('GIVEN another user WHEN wrapped THEN sudo -n runs exactly the same shell text (quotes, $, pipes, ;, newlines)', () => {
    const cmds = [
      `printf '%s\\n' "it's" "a b" | wc -l`,
      'X=inner; echo "$X" $((1+2)); echo done',
      "set -e; t=$(mktemp); printf 'x' > \"$t\"; cat \"$t\"; rm -f \"$t\"",
      'for k in a b; do\n  echo "$k"\ndone',
    ];
    for (const c of cmds) {
      const wrapped = asRoot('deploy', c);
      assert.match(wrapped, /^sudo -n -- sh -c '/);
      assert.equal(run(wrapped), run(c), c);
    }
  });

  it('GIVEN words WHEN quoted THEN safe words stay bare and the rest survive the shell intact', () => {
    assert.equal(shQuote('/etc/bmlb/keepalived.conf'), '/etc/bmlb/keepalived.conf');
    assert.equal(shQuote(''), "''");
    const words = ['a b', "it's", '$HOME', '`x`', 'semi;colon', 'new\nline', '*'];
    assert.equal(run(`printf '%s|' ${shCommand(words)}`), words.join('|') + '|');
  });
});
