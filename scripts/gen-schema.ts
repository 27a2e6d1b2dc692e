// Writes schema/cluster.schema.json and the generated field reference of docs/cluster-file.md
// from the zod schemas in src/config/schema.ts. Run: node --import tsx scripts/gen-schema.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { clusterJsonSchemaText } from '../src/config/json-schema.js';
import { withFieldReference } from '../src/config/reference.js';

const root = new URL('..', import.meta.url).pathname;
writeFileSync(`${root}schema/cluster.schema.json`, clusterJsonSchemaText());
const docPath = `${root}docs/cluster-file.md`;
writeFileSync(docPath, withFieldReference(readFileSync(docPath, 'utf8')));
console.log('wrote schema/cluster.schema.json and the reference in docs/cluster-file.md');
