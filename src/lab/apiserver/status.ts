/**
 * Kubernetes `Status` bodies for failed requests, shaped like kube-apiserver's
 * (reason, code, details with the resource's plural in details.kind).
 */
export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: StatusCause[]; retryAfterSeconds?: number };
  code: number;
}

/** Thrown inside the server; turned into a Status response by the request handler. */
export class ApiError extends Error {
  constructor(readonly status: StatusBody) {
    super(status.message);
    this.name = 'ApiError';
  }
  get code(): number {
    return this.status.code;
  }
}

function failure(code: number, reason: string, message: string, details?: StatusBody['details']): ApiError {
  return new ApiError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code });
}

/** `services "web"` or `services.apps` style qualified resource as kube-apiserver prints it. */
export function qualified(resource: string, group: string): string {
  return group ? `${resource}.${group}` : resource;
}

export const errors = {
  notFound: (resource: string, group: string, name: string) =>
    failure(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, { name, group, kind: resource }),
  alreadyExists: (resource: string, group: string, name: string) =>
    failure(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, { name, group, kind: resource }),
  conflict: (resource: string, group: string, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again') =>
    failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": ${why}`, { name, group, kind: resource }),
  invalid: (kind: string, group: string, name: string, causes: StatusCause[]) =>
    failure(422, 'Invalid', `${group ? `${kind}.${group}` : kind} "${name}" is invalid: ${causes.map((c) => `${c.field ? `${c.field}: ` : ''}${c.message}`).join(', ')}`,
      { name, group, kind, causes }),
  badRequest: (message: string) => failure(400, 'BadRequest', message),
  unauthorized: () => failure(401, 'Unauthorized', 'Unauthorized'),
  forbidden: (message: string, details?: StatusBody['details']) => failure(403, 'Forbidden', message, details),
  methodNotAllowed: (message = 'the server does not allow this method on the requested resource') => failure(405, 'MethodNotAllowed', message),
  notAcceptable: (message: string) => failure(406, 'NotAcceptable', message),
  unsupportedMediaType: (message: string) => failure(415, 'UnsupportedMediaType', message),
  gone: (message: string) => failure(410, 'Expired', message),
  tooLarge: (message: string) => failure(413, 'RequestEntityTooLarge', message),
  internal: (message: string) => failure(500, 'InternalError', `Internal error occurred: ${message}`),
  timeout: (message: string) => failure(504, 'Timeout', message),
  pathNotFound: () => failure(404, 'NotFound', 'the server could not find the requested resource'),
};

export function successStatus(details?: StatusBody['details']): StatusBody {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', message: '', reason: '', ...(details ? { details } : {}), code: 200 };
}
