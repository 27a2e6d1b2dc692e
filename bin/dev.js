#!/usr/bin/env -S node --import tsx
// Development entry: runs the TypeScript sources directly (tsx is loaded by the shebang), so new
// or changed commands work without `npm run build`. oclif is pointed at src/commands itself
// because its own tsx registration does not work with the tsx version we use.
import { execute } from '@oclif/core';
import { readFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
pjson.oclif = { ...pjson.oclif, commands: './src/commands' };

await execute({ development: true, loadOptions: { root, pjson } });
