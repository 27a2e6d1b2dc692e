/**
 * Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) for the
 * few kinds kubectl's typed subcommands send (`kubectl create namespace|configmap|secret|
 * serviceaccount|token`, `kubectl auth can-i|whoami`). The envelope is the magic `k8s\0` followed by a
 * runtime.Unknown {typeMeta{apiVersion, kind}, raw}; `raw` is decoded with the field numbers of
 * the Go types' generated.proto, for the fields listed here (others are skipped). Other kinds are
 * not decodable: the caller answers 415. Pure.
 */
type Scalar = 'string' | 'bytes' | 'bool' | 'int';
interface FieldSpec { name: string; type: Scalar | Schema | { map: 'string' | 'bytes' }; repeated?: boolean }
type Schema = Record<number, FieldSpec>;

const TYPE_META: Schema = { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } };
const UNKNOWN: Schema = { 1: { name: 'typeMeta', type: TYPE_META }, 2: { name: 'raw', type: 'bytes' }, 3: { name: 'contentEncoding', type: 'string' }, 4: { name: 'contentType', type: 'string' } };
const OWNER_REF: Schema = { 1: { name: 'kind', type: 'string' }, 3: { name: 'name', type: 'string' }, 4: { name: 'uid', type: 'string' }, 5: { name: 'apiVersion', type: 'string' },
  6: { name: 'controller', type: 'bool' }, 7: { name: 'blockOwnerDeletion', type: 'bool' } };
const OBJECT_META: Schema = {
  1: { name: 'name', type: 'string' }, 2: { name: 'generateName', type: 'string' }, 3: { name: 'namespace', type: 'string' },
  5: { name: 'uid', type: 'string' }, 6: { name: 'resourceVersion', type: 'string' },
  11: { name: 'labels', type: { map: 'string' } }, 12: { name: 'annotations', type: { map: 'string' } },
  13: { name: 'ownerReferences', type: OWNER_REF, repeated: true }, 14: { name: 'finalizers', type: 'string', repeated: true },
};
const OBJECT_REF: Schema = { 1: { name: 'kind', type: 'string' }, 2: { name: 'namespace', type: 'string' }, 3: { name: 'name', type: 'string' } };
const LOCAL_REF: Schema = { 1: { name: 'name', type: 'string' } };
const RESOURCE_ATTRS: Schema = { 1: { name: 'namespace', type: 'string' }, 2: { name: 'verb', type: 'string' }, 3: { name: 'group', type: 'string' },
  4: { name: 'version', type: 'string' }, 5: { name: 'resource', type: 'string' }, 6: { name: 'subresource', type: 'string' }, 7: { name: 'name', type: 'string' } };
const NON_RESOURCE_ATTRS: Schema = { 1: { name: 'path', type: 'string' }, 2: { name: 'verb', type: 'string' } };

const KINDS: Record<string, Schema> = {
  'v1/Namespace': { 1: { name: 'metadata', type: OBJECT_META }, 2: { name: 'spec', type: { 1: { name: 'finalizers', type: 'string', repeated: true } } } },
  'v1/ConfigMap': { 1: { name: 'metadata', type: OBJECT_META }, 2: { name: 'data', type: { map: 'string' } }, 3: { name: 'binaryData', type: { map: 'bytes' } },
    4: { name: 'immutable', type: 'bool' } },
  'v1/Secret': { 1: { name: 'metadata', type: OBJECT_META }, 2: { name: 'data', type: { map: 'bytes' } }, 3: { name: 'type', type: 'string' },
    4: { name: 'stringData', type: { map: 'string' } }, 5: { name: 'immutable', type: 'bool' } },
  'v1/ServiceAccount': { 1: { name: 'metadata', type: OBJECT_META }, 2: { name: 'secrets', type: OBJECT_REF, repeated: true },
    3: { name: 'imagePullSecrets', type: LOCAL_REF, repeated: true }, 4: { name: 'automountServiceAccountToken', type: 'bool' } },
  'authentication.k8s.io/v1/TokenRequest': { 1: { name: 'metadata', type: OBJECT_META },
    2: { name: 'spec', type: { 1: { name: 'audiences', type: 'string', repeated: true }, 4: { name: 'expirationSeconds', type: 'int' },
      3: { name: 'boundObjectRef', type: { 1: { name: 'kind', type: 'string' }, 2: { name: 'apiVersion', type: 'string' }, 3: { name: 'name', type: 'string' }, 4: { name: 'uid', type: 'string' } } } } } },
  'authentication.k8s.io/v1/SelfSubjectReview': { 1: { name: 'metadata', type: OBJECT_META } },
  'authorization.k8s.io/v1/SelfSubjectAccessReview': { 1: { name: 'metadata', type: OBJECT_META },
    2: { name: 'spec', type: { 1: { name: 'resourceAttributes', type: RESOURCE_ATTRS }, 2: { name: 'nonResourceAttributes', type: NON_RESOURCE_ATTRS } } } },
};

export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const n = Number(this.varint());
    if (this.pos + n > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function decodeMessage(buf: Buffer, schema: Schema): Record<string, unknown> {
  const r = new Reader(buf);
  const out: Record<string, unknown> = {};
  while (!r.done()) {
    const tag = r.varint();
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    const f = schema[no];
    if (!f) { r.skip(wire); continue; }
    let v: unknown;
    if (typeof f.type === 'object' && 'map' in f.type) {
      const entry = decodeMessage(r.bytes(), { 1: { name: 'key', type: 'string' }, 2: { name: 'value', type: f.type.map } });
      const m = (out[f.name] ??= {}) as Record<string, unknown>;
      m[String(entry.key ?? '')] = entry.value ?? '';
      continue;
    }
    switch (f.type) {
      case 'string': v = r.bytes().toString('utf8'); break;
      case 'bytes': v = r.bytes().toString('base64'); break;
      case 'bool': v = r.varint() !== 0n; break;
      case 'int': v = Number(BigInt.asIntN(64, r.varint())); break;
      default: v = decodeMessage(r.bytes(), f.type);
    }
    if (f.repeated) ((out[f.name] ??= []) as unknown[]).push(v);
    else out[f.name] = v;
  }
  return out;
}

export type ProtobufDecode = { ok: true; object: Record<string, unknown> } | { ok: false; reason: string };

export function decodeKubernetesProtobuf(body: Buffer): ProtobufDecode {
  if (body.length < 4 || body.subarray(0, 4).toString('latin1') !== 'k8s\0') return { ok: false, reason: 'missing the k8s protobuf envelope' };
  try {
    const unknown = decodeMessage(body.subarray(4), UNKNOWN);
    const tm = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
    const schema = KINDS[`${tm.apiVersion}/${tm.kind}`];
    if (!schema) return { ok: false, reason: `protobuf bodies of ${tm.apiVersion} ${tm.kind} are not supported by the lab API server; send JSON (e.g. kubectl create -f / apply -f)` };
    const object = decodeMessage(Buffer.from(String(unknown.raw ?? ''), 'base64'), schema);
    return { ok: true, object: { apiVersion: tm.apiVersion, kind: tm.kind, ...object } };
  } catch (e) {
    return { ok: false, reason: `malformed protobuf body: ${(e as Error).message}` };
  }
}
