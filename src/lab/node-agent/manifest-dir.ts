/**
 * Static pod manifests: every `*.yaml`, `*.yml` or `*.json` file in the manifest directory holding
 * one Pod. Parsing is pure (`parseManifest`); `readManifestDir` is the thin IO around it.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';

export type Manifest =
  | { file: string; hash: string; ok: true; pod: V1Pod }
  | { file: string; hash: string; ok: false; error: string };

export function parseManifest(file: string, text: string): Manifest {
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 32);
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    return { file, hash, ok: false, error: `not valid YAML: ${(e as Error).message.split('\n')[0]}` };
  }
  const pod = doc as V1Pod | null;
  if (!pod || typeof pod !== 'object' || pod.kind !== 'Pod' || pod.apiVersion !== 'v1') {
    return { file, hash, ok: false, error: 'not a Pod (apiVersion: v1, kind: Pod)' };
  }
  if (!pod.metadata?.name) return { file, hash, ok: false, error: 'metadata.name is missing' };
  if (!pod.spec?.containers?.length) return { file, hash, ok: false, error: 'spec.containers is empty' };
  return { file, hash, ok: true, pod };
}

/** Manifests by file name; a missing directory is an empty one. Editor temp files (dot files, `~`) are ignored. */
export async function readManifestDir(dir: string): Promise<Map<string, Manifest>> {
  const out = new Map<string, Manifest>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    if (name.startsWith('.') || name.endsWith('~') || !/\.(ya?ml|json)$/.test(name)) continue;
    let text: string;
    try {
      text = await readFile(join(dir, name), 'utf8');
    } catch {
      continue; // removed meanwhile, or a directory
    }
    out.set(name, parseManifest(name, text));
  }
  return out;
}

/**
 * The pod the agent runs for a static manifest, as kubelet shapes it: name `<name>-<node>`,
 * namespace defaulted, bound to the node, uid derived from the manifest's content.
 */
export function staticPod(m: Manifest & { ok: true }, nodeName: string): V1Pod {
  const ns = m.pod.metadata?.namespace || 'default';
  return {
    ...m.pod,
    metadata: {
      ...m.pod.metadata,
      name: `${m.pod.metadata?.name}-${nodeName}`,
      namespace: ns,
      uid: m.hash,
      annotations: {
        ...(m.pod.metadata?.annotations ?? {}),
        'kubernetes.io/config.hash': m.hash,
        'kubernetes.io/config.mirror': m.hash,
        'kubernetes.io/config.source': 'file',
      },
    },
    spec: { ...m.pod.spec!, nodeName },
  };
}
