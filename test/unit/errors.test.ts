import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError, isUserError } from '../../src/errors.js';

test('GIVEN a UserError WHEN inspected THEN it carries code, suggestions and exit code', () => {
  const e = new UserError('bad', { code: 'X', suggestions: ['do y'] });
  assert.equal(isUserError(e), true);
  assert.equal(e.exitCode, 1);
  assert.deepEqual(e.suggestions, ['do y']);
  assert.equal(isUserError(new Error('x')), false);
});
