/**
 * The OpenAPI 3.1 document, built from the same zod schemas the routes validate with,
 * so the document cannot drift from what the server accepts.
 */
import { z } from 'zod';
import { CreateRequestBody, DecisionBody, ListRequestsQuery } from './routes/requests.ts';
import { CredentialsBody, ExtendBody, RevokeBody, ReviewBody, ListGrantsQuery } from './routes/grants.ts';
import { CreatePreApprovalBody } from './routes/preapprovals.ts';
import { ExplainQuery } from './routes/profiles.ts';
import { AuditQuery } from './routes/audit.ts';
import { CreateTokenBody } from './routes/identity.ts';
import { ERROR_CODES } from '../core/errors.ts';
import { AUDIT_ACTIONS, GRANT_STATES, REQUEST_STATES } from '../core/model.ts';

const schema = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });

function queryParams(s: z.ZodObject) {
  return Object.keys(s.shape).map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } }));
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (s: unknown) => ({ content: { 'application/json': { schema: s } } });
const errors = { default: { description: 'Error envelope', ...json(ref('Error')) } };

function op(summary: string, opts: { body?: z.ZodType; query?: z.ZodObject; ok?: unknown; status?: string; params?: string[]; open?: boolean } = {}) {
  return {
    summary,
    ...(opts.open ? { security: [] } : {}),
    parameters: [...(opts.params ?? []).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })), ...(opts.query ? queryParams(opts.query) : [])],
    ...(opts.body ? { requestBody: { required: true, ...json(schema(opts.body)) } } : {}),
    responses: { [opts.status ?? '200']: { description: 'OK', ...(opts.ok ? json(opts.ok) : {}) }, ...errors },
  };
}

let cached: unknown;

export function openApiDocument(): unknown {
  cached ??= {
    openapi: '3.1.0',
    info: { title: 'Keyshift API', version: '1', description: 'Just-in-time, time-bound access. See docs/api.md.' },
    security: [{ bearer: [] }],
    paths: {
      '/api/v1/me': { get: op('The caller') },
      '/api/v1/profiles': { get: op('Profiles the caller may request') },
      '/api/v1/profiles/{name}/explain': { get: op('What would happen if the user requested this profile, and why', { params: ['name'], query: ExplainQuery }) },
      '/api/v1/requests': {
        post: op('Request access', { body: CreateRequestBody, status: '201', ok: { type: 'object', properties: { request: ref('Request'), grant: { anyOf: [ref('Grant'), { type: 'null' }] } } } }),
        get: op('List requests', { query: ListRequestsQuery }),
      },
      '/api/v1/requests/{id}': { get: op('One request', { params: ['id'], ok: ref('Request') }) },
      '/api/v1/requests/{id}/approve': { post: op('Approve (never your own)', { params: ['id'], body: DecisionBody }) },
      '/api/v1/requests/{id}/deny': { post: op('Deny', { params: ['id'], body: DecisionBody }) },
      '/api/v1/requests/{id}/cancel': { post: op('Cancel your own pending request', { params: ['id'] }) },
      '/api/v1/grants': { get: op('List grants', { query: ListGrantsQuery }) },
      '/api/v1/grants/{id}': { get: op('One grant', { params: ['id'], ok: ref('Grant') }) },
      '/api/v1/grants/{id}/credentials': { post: op('Issue fresh credentials to the grantee', { params: ['id'], body: CredentialsBody }) },
      '/api/v1/grants/{id}/extend': {
        post: {
          ...op('Ask for more time: applied at once (200) when auto-approved, else a pending extension request (202)', { params: ['id'], body: ExtendBody }),
          responses: { '200': { description: 'Applied; `credentials` holds re-issued credentials for the grantee, if any' }, '202': { description: 'Pending extension request' }, ...errors },
        },
      },
      '/api/v1/grants/{id}/review': { post: op('Acknowledge a break-glass grant (approvers, not the grantee)', { params: ['id'], body: ReviewBody }) },
      '/api/v1/reviews': { get: op('Open break-glass review items the caller may acknowledge') },
      '/api/v1/policy/matrix': { get: op('Who can get what, on which terms (admins)') },
      '/api/v1/preapprovals': { post: op('Pre-approve a user for a profile for a window (approvers)', { body: CreatePreApprovalBody, status: '201' }), get: op('Pre-approvals by or for the caller (admins: all)') },
      '/api/v1/preapprovals/{id}/revoke': { post: op('Revoke a pre-approval (its author or an admin)', { params: ['id'] }) },
      '/api/v1/grants/{id}/release': { post: op('End your own grant now', { params: ['id'] }) },
      '/api/v1/grants/{id}/revoke': { post: op('Revoke (approvers and admins)', { params: ['id'], body: RevokeBody }) },
      '/api/v1/audit': { get: op('Audit events', { query: AuditQuery }) },
      '/api/v1/audit/verify': { get: op('Verify the hash chain') },
      '/api/v1/reports/incidents/{id}': { get: op('Incident access report', { params: ['id'] }) },
      '/api/v1/tokens': { post: op('Create an API token (admins)', { body: CreateTokenBody, status: '201' }), get: op('API tokens (admins: all; others: their own), without secrets') },
      '/api/v1/tokens/{id}/revoke': { post: op('Revoke a token at once (admins: any; others: their own)', { params: ['id'] }) },
      '/api/v1/connectors/{name}/krl': { get: op('OpenSSH key revocation list', { params: ['name'], open: true }) },
      '/api/v1/connectors/{name}/ca.pub': { get: op('SSH CA public key', { params: ['name'], open: true }) },
      '/healthz': { get: op('Liveness', { open: true }) },
      '/readyz': { get: op('Readiness (after start-up recovery)', { open: true }) },
      '/metrics': { get: op('Prometheus metrics', { open: true }) },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message', 'request_id'], properties: { code: { enum: [...ERROR_CODES] }, message: { type: 'string' }, request_id: { type: 'string' }, details: { type: 'object' } } } },
        },
        Request: { type: 'object', properties: { id: { type: 'string', pattern: '^req_' }, state: { enum: [...REQUEST_STATES] } }, additionalProperties: true },
        Grant: { type: 'object', properties: { id: { type: 'string', pattern: '^grt_' }, state: { enum: [...GRANT_STATES] } }, additionalProperties: true },
        AuditEvent: { type: 'object', properties: { action: { enum: [...AUDIT_ACTIONS] } }, additionalProperties: true },
      },
    },
  };
  return cached;
}
