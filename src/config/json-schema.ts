/**
 * JSON Schema of the cluster file's documents, generated from the zod schemas (schema.ts) so
 * editors (yaml-language-server) validate the file as it is typed. scripts/gen-schema.ts writes
 * it to schema/cluster.schema.json; a unit test fails when the checked-in file is stale.
 */
import { z } from 'zod';
import { ClusterFileDocumentSchema } from './schema.js';

export const SCHEMA_ID = 'https://bmlb.io/schema/cluster.schema.json';

export function clusterJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(ClusterFileDocumentSchema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: SCHEMA_ID,
    title: 'bmlb cluster file (GDCV format)',
    description: 'Each YAML document of a bmlb cluster file: the credentials header, the Namespace, the Cluster and NodePool documents. GDCV fields bmlb does not use are accepted (x-bmlb-ignored); bmlb extensions are marked x-bmlb-extension. Cross-field rules (overlaps, VIPs outside pools, ...) are checked by `bmlb check config`.',
    ...rest,
  };
}

/** The file text: stable formatting, trailing newline. */
export function clusterJsonSchemaText(): string {
  return `${JSON.stringify(clusterJsonSchema(), null, 2)}\n`;
}
