/**
 * The error envelope and the one exhaustive code → status switch. Nothing but the code,
 * a message written for the caller, and the request ID leaves the server: no stack, no
 * driver text (connectors scrub theirs), no secret.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorCode } from '../core/errors.ts';
import { KeyshiftError, scrubSecrets } from '../core/errors.ts';
import type { Log } from '../core/deps.ts';

export function statusFor(code: ErrorCode): number {
  switch (code) {
    case 'INVALID_INPUT':
      return 400;
    case 'UNAUTHENTICATED':
      return 401;
    case 'FORBIDDEN':
    case 'POLICY_DENIED':
      return 403;
    case 'NOT_FOUND':
      return 404;
    case 'CONFLICT':
      return 409;
    case 'PAYLOAD_TOO_LARGE':
      return 413;
    case 'CONNECTOR_FAILED':
      return 502;
    case 'CONNECTOR_UNAVAILABLE':
      return 503;
    case 'CONFIG_INVALID':
    case 'INTERNAL':
      return 500;
    default: {
      const unreachable: never = code;
      return unreachable;
    }
  }
}

export function toKeyshiftError(err: unknown): KeyshiftError {
  if (err instanceof KeyshiftError) return err;
  const fe = err as Partial<FastifyError> & { code?: string };
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new KeyshiftError('PAYLOAD_TOO_LARGE', 'the request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new KeyshiftError('INVALID_INPUT', 'send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new KeyshiftError('INVALID_INPUT', 'the JSON body is empty; send {} for no fields');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new KeyshiftError('INVALID_INPUT', 'the Content-Length header does not match the body');
  }
  if (fe.statusCode === 400 || err instanceof SyntaxError) {
    return new KeyshiftError('INVALID_INPUT', `the body is not valid JSON: ${scrubSecrets(String(fe.message ?? '')).slice(0, 200)}`);
  }
  if (fe.statusCode === 413) return new KeyshiftError('PAYLOAD_TOO_LARGE', 'the request body is too large');
  return new KeyshiftError('INTERNAL', 'internal error; the server log has details under this request ID', { cause: err });
}

export function sendError(req: FastifyRequest, reply: FastifyReply, err: unknown, log?: Log): FastifyReply {
  const e = toKeyshiftError(err);
  if (e.code === 'INTERNAL') {
    // The client only gets the request ID; the details go to the server log under it.
    const detail = err instanceof Error ? scrubSecrets(`${err.message}\n${err.stack ?? ''}`) : scrubSecrets(String(err));
    if (log) log('error', 'internal error', { request_id: String(req.id), method: req.method, url: req.url.split('?')[0], error: detail });
    else req.log.error({ err }, 'internal error');
  }
  const body: { error: { code: string; message: string; request_id: string; details?: Record<string, unknown> } } = {
    error: { code: e.code, message: e.message, request_id: String(req.id) },
  };
  if (e.details && e.code !== 'INTERNAL') body.error.details = e.details;
  return reply.status(statusFor(e.code)).type('application/json').send(body);
}
