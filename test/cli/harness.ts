/**
 * A stand-in for the Keyshift HTTP API, answering the contract's shapes from per-test
 * routes, plus an in-process runner for the CLI. It exists to test the CLI's parsing,
 * output and exit codes; the real server is exercised by the end-to-end tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessRequest, Grant, PreApproval } from '../../src/core/model.ts';
import type { Explanation, MatrixRow } from '../../src/cli/api-types.ts';
import { runCli } from '../../src/cli/main.ts';

export interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  body: Record<string, unknown> | null;
}

export interface Reply {
  status?: number;
  json?: unknown;
  text?: string;
}

export type Route = (seen: Seen) => Reply | Promise<Reply>;

export interface FakeApi {
  url: string;
  seen: Seen[];
  routes: Map<string, Route>;
  close: () => Promise<void>;
}

/** Routes are keyed `GET /api/v1/me`; anything else answers 404 NOT_FOUND like the API. */
export async function startFakeApi(routes: Record<string, Route> = {}): Promise<FakeApi> {
  const seen: Seen[] = [];
  const table = new Map(Object.entries(routes));
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const raw = await readBody(req);
    const s: Seen = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization,
      body: raw ? (JSON.parse(raw) as Record<string, unknown>) : null,
    };
    seen.push(s);
    const route = table.get(`${s.method} ${s.path}`);
    const reply: Reply = route ? await route(s) : apiError(404, 'NOT_FOUND', `${s.method} ${s.path} not found`);
    res.statusCode = reply.status ?? 200;
    if (reply.text !== undefined) {
      res.setHeader('content-type', 'text/plain');
      res.end(reply.text);
    } else {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(reply.json ?? {}));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    routes: table,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export function apiError(status: number, code: string, message: string, details?: Record<string, unknown>): Reply {
  return { status, json: { error: { code, message, request_id: 'rid_test', ...(details ? { details } : {}) } } };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with a private home directory and only the env given. */
export async function run(argv: string[], opts: { env?: Record<string, string | undefined>; home: string; cwd?: string }): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    env: { PATH: process.env.PATH, ...opts.env },
    cwd: opts.cwd ?? opts.home,
    home: opts.home,
  });
  return { code, stdout, stderr };
}

export async function tempHome(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'keyshift-cli-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const now = () => new Date().toISOString();
const later = (s: number) => new Date(Date.now() + s * 1000).toISOString();

export function accessRequest(over: Partial<AccessRequest> = {}): AccessRequest {
  return {
    id: 'req_01HZX0000000000000000000AA',
    profile: 'db-read',
    requester: 'alice@example.com',
    duration_seconds: 3600,
    reason: 'INC-1 triage',
    ticket: null,
    incident: null,
    break_glass: false,
    state: 'pending',
    created_at: now(),
    expires_at: later(1800),
    decided_at: null,
    decided_by: null,
    decision_comment: null,
    decision_reasons: [],
    grant_id: null,
    kind: 'grant',
    extends_grant_id: null,
    approvals: [],
    ...over,
  };
}

export function grant(over: Partial<Grant> = {}): Grant {
  return {
    id: 'grt_01HZX0000000000000000000BB',
    request_id: 'req_01HZX0000000000000000000AA',
    profile: 'db-read',
    connector: 'prod-db',
    grantee: 'alice@example.com',
    state: 'active',
    ending: null,
    duration_seconds: 3600,
    created_at: now(),
    activated_at: now(),
    ends_at: later(3600),
    ended_at: null,
    end_reason: null,
    ended_by: null,
    extensions: 0,
    incident: null,
    ticket: null,
    break_glass: false,
    review_due_at: null,
    reviewed_at: null,
    reviewed_by: null,
    review_comment: null,
    revoke_attempts: 0,
    next_attempt_at: null,
    last_error: null,
    connector_state: {},
    ...over,
  };
}

export function profile(name: string, connectorType: string) {
  return {
    name,
    description: `${name} access`,
    connector: `conn-${connectorType}`,
    connector_type: connectorType,
    duration: { default_seconds: 3600, max_seconds: 14400 },
    requires: ['reason'],
    approval: { rules: [{ approvers: ['group:sre-leads'], count: 1 }], auto_approve: false },
    break_glass: { allowed: false },
    extend: { max_times: 2, max_total_seconds: 28800 },
    can_request: true,
  };
}

/** `GET /profiles/:name/explain` for a one-rule profile that needs approval. */
export function explanation(over: Partial<Explanation> = {}): Explanation {
  return {
    profile: 'db-read',
    user: 'alice@example.com',
    duration_seconds: 3600,
    allowed: true,
    outcome: 'needs_approval',
    reasons: ['needs rule 1 (1 of group:sre-leads)'],
    requirements: ['a request must include a reason (--reason)'],
    rules: [{ index: 0, approvers: ['group:sre-leads'], count: 1, eligible: ['bob@example.com'], satisfiable: true }],
    on_call: null,
    pre_approvals: [],
    held_grant: null,
    break_glass_allowed: false,
    ...over,
  };
}

export function preApproval(over: Partial<PreApproval> = {}): PreApproval {
  return {
    id: 'pre_01HZX0000000000000000000CC',
    profile: 'db-read',
    user: 'alice@example.com',
    starts_at: now(),
    ends_at: later(7 * 86400),
    created_by: 'bob@example.com',
    created_at: now(),
    reason: 'on call week 49',
    revoked_at: null,
    revoked_by: null,
    ...over,
  };
}

/** A break-glass grant, `dueIn` seconds from its review deadline (negative: overdue). */
export function breakGlassGrant(dueIn: number, over: Partial<Grant> = {}): Grant & { review_overdue: boolean } {
  return { ...grant({ break_glass: true, profile: 'db-admin', review_due_at: later(dueIn), ...over }), review_overdue: dueIn < 0 };
}

export function matrixRow(over: Partial<MatrixRow> = {}): MatrixRow {
  return {
    profile: 'db-read',
    connector: 'prod-db',
    max_seconds: 14400,
    requires: ['reason'],
    on_call_auto_approval: null,
    break_glass: false,
    users: [
      { user: 'alice@example.com', outcome: 'needs_approval', approver: false },
      { user: 'bob@example.com', outcome: 'needs_approval', approver: true },
      { user: 'carol@example.com', outcome: 'denied', approver: false },
    ],
    ...over,
  };
}

/** The one JSON value on stdout; throws if stdout holds anything else. */
export function onlyJson(stdout: string): unknown {
  return JSON.parse(stdout);
}
