import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { expandVars } from '../../../src/lab/node-agent/env-expansion.js';

const env = new Map([['NODE', 'lb1'], ['EMPTY', ''], ['A', '$(B)']]);
const lookup = (n: string) => env.get(n);

describe('expandVars ($(VAR) as Kubernetes expands command, args and env)', () => {
  const cases: [string, string, string][] = [
    ['a defined variable', '--node=$(NODE)', '--node=lb1'],
    ['an undefined variable stays as written', '--x=$(MISSING)', '--x=$(MISSING)'],
    ['an empty value', '[$(EMPTY)]', '[]'],
    ['$$ escapes a reference', '$$(NODE)', '$(NODE)'],
    ['$$ alone is one $', 'a$$b', 'a$b'],
    ['a lone $ before another character', '$HOME and $1', '$HOME and $1'],
    ['a trailing $', 'cost$', 'cost$'],
    ['an unterminated reference', '$(NODE', '$(NODE'],
    ['values are not expanded again', '$(A)', '$(B)'],
    ['several references', '$(NODE)-$(NODE)', 'lb1-lb1'],
    ['empty name', '$()', '$()'],
  ];
  for (const [what, input, want] of cases) {
    it(`GIVEN ${what} WHEN expanded THEN ${JSON.stringify(input)} → ${JSON.stringify(want)}`, () => {
      assert.equal(expandVars(input, lookup), want);
    });
  }

  it('GIVEN any string without $ WHEN expanded THEN it is unchanged', () => {
    fc.assert(fc.property(fc.string().filter((s) => !s.includes('$')), (s) => expandVars(s, lookup) === s));
  });

  it('GIVEN any string WHEN expanded with no variables defined THEN only $$ pairs shrink', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      const out = expandVars(s, () => undefined);
      return out.length <= s.length && out.replaceAll('$', '') === s.replaceAll('$', '');
    }));
  });
});
