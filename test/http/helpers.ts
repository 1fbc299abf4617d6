/**
 * Shared helpers for the HTTP API suites: error-envelope assertions, the request → approve
 * → grant steps every suite needs, SSH public keys, extra tokens, and a reset that ends
 * whatever a test left live so the next test starts clean on the same server.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestServer, UserName } from '../harness/keyshift.ts';
import { USERS } from '../harness/keyshift.ts';
import type { AccessRequest, AuditEvent, Grant } from '../../src/core/model.ts';

export type ApiResult<T = unknown> = { status: number; body: T; text: string };
export interface ErrorBody {
  error: { code: string; message: string; request_id: string; details?: Record<string, unknown> };
}
export interface Outcome {
  request: AccessRequest;
  grant: Grant | null;
}
export interface Items<T> {
  items: T[];
}

/** Text that must never reach a client: stack frames, file paths, driver and runtime internals. */
const INTERNAL_TEXT = [
  /\bat [\w.<>$]+ \(/, // stack frame "at fn ("
  /\bat (file:|node:|\/)/, // stack frame "at /path"
  /\.ts:\d+/,
  /\.js:\d+/,
  /node_modules/,
  /\/work\//,
  /\/tmp\//,
  /SQLITE_/,
  /\bstack\b/i,
  /FST_ERR/,
  /TypeError|ReferenceError|RangeError/,
];

/** Fails unless the body is exactly the error envelope, with nothing internal in it. */
export function assertCleanError(res: ApiResult, context = ''): ErrorBody['error'] {
  const where = `${context} → ${res.status} ${res.text.slice(0, 400)}`;
  assert.ok(typeof res.body === 'object' && res.body !== null, `error body is not JSON: ${where}`);
  const body = res.body as Partial<ErrorBody>;
  assert.deepEqual(Object.keys(body), ['error'], `error body has only "error": ${where}`);
  const e = body.error!;
  assert.equal(typeof e.code, 'string', `error.code: ${where}`);
  assert.equal(typeof e.message, 'string', `error.message: ${where}`);
  assert.ok(e.message.length > 0, `error.message is empty: ${where}`);
  assert.equal(typeof e.request_id, 'string', `error.request_id: ${where}`);
  assert.ok(e.request_id.length > 0, `error.request_id is empty: ${where}`);
  for (const key of Object.keys(e)) assert.ok(['code', 'message', 'request_id', 'details'].includes(key), `unexpected error field ${key}: ${where}`);
  for (const pattern of INTERNAL_TEXT) assert.doesNotMatch(res.text, pattern, `internal text in error body: ${where}`);
  return e;
}

/** Fails unless `res` is an error with this status and code; returns the error object. */
export function expectError(res: ApiResult, status: number, code: string, context = ''): ErrorBody['error'] {
  const e = assertCleanError(res, context);
  assert.equal(e.code, code, `${context}: expected ${code}, got ${e.code}: ${e.message}`);
  assert.equal(res.status, status, `${context}: expected HTTP ${status} for ${code}, got ${res.status}`);
  return e;
}

export function expectOk<T>(res: ApiResult<unknown>, status = 200, context = ''): T {
  assert.equal(res.status, status, `${context}: expected ${status}, got ${res.status}: ${res.text.slice(0, 500)}`);
  return res.body as T;
}

export const email = (u: UserName) => USERS[u].email;

let keyDir: string | null = null;
const keys = new Map<string, string>();

/** A fresh ed25519 public key line (ssh-keygen), one per label, cached for the process. */
export function sshPublicKey(label = 'default'): string {
  const cached = keys.get(label);
  if (cached) return cached;
  keyDir ??= mkdtempSync(join(tmpdir(), 'keyshift-http-keys-'));
  const path = join(keyDir, `k-${label}`);
  execFileSync('ssh-keygen', ['-t', 'ed25519', '-N', '', '-C', `${label}@test`, '-f', path, '-q']);
  const line = readFileSync(`${path}.pub`, 'utf8').trim();
  keys.set(label, line);
  return line;
}

/** The private half of sshPublicKey(label), for "a private key was sent" tests. */
export function sshPrivateKey(label = 'default'): string {
  sshPublicKey(label);
  return readFileSync(join(keyDir!, `k-${label}`), 'utf8');
}

export function removeKeys(): void {
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  keyDir = null;
  keys.clear();
}

// ---------------------------------------------------------------------------------------
// Flows

export async function createRequest(srv: TestServer, as: UserName, body: Record<string, unknown>): Promise<Outcome> {
  return expectOk<Outcome>(await srv.api(as, 'POST', '/api/v1/requests', body), 201, `${as} requests ${JSON.stringify(body)}`);
}

/**
 * alice asks for host-shell (or another profile approved by sre-leads); returns the
 * pending request.
 */
export async function pendingHostShell(srv: TestServer, extra: Record<string, unknown> = {}): Promise<AccessRequest> {
  const out = await createRequest(srv, 'alice', { profile: 'host-shell', duration: '30m', reason: 'paged for disk pressure', ...extra });
  assert.equal(out.request.state, 'pending');
  assert.equal(out.request.kind, 'grant');
  assert.equal(out.grant, null);
  return out.request;
}

/** alice holds an active host-shell grant (or `extra.profile`) approved by bob. */
export async function activeHostShell(srv: TestServer, extra: Record<string, unknown> = {}): Promise<Grant> {
  const r = await pendingHostShell(srv, extra);
  const out = expectOk<Outcome>(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, { comment: 'go' }), 200, 'bob approves');
  assert.equal(out.request.state, 'approved');
  assert.ok(out.grant, 'approval returns the grant');
  assert.equal(out.grant.state, 'active');
  return out.grant;
}

/** A pending two-team request by alice. */
export async function pendingTwoTeam(srv: TestServer, as: UserName = 'alice'): Promise<AccessRequest> {
  const out = await createRequest(srv, as, { profile: 'two-team', duration: '30m', reason: 'schema fix', incident: 'INC-42' });
  assert.equal(out.request.state, 'pending');
  return out.request;
}

export async function getRequest(srv: TestServer, id: string): Promise<AccessRequest> {
  return expectOk<AccessRequest>(await srv.api('carol', 'GET', `/api/v1/requests/${id}`), 200, 'carol reads the request');
}

export async function getGrant(srv: TestServer, id: string): Promise<Grant> {
  return expectOk<Grant>(await srv.api('carol', 'GET', `/api/v1/grants/${id}`), 200, 'carol reads the grant');
}

/** Every audit event (carol is an admin), optionally filtered by query string. */
export async function auditEvents(srv: TestServer, query = ''): Promise<AuditEvent[]> {
  return expectOk<Items<AuditEvent>>(await srv.api('carol', 'GET', `/api/v1/audit?limit=10000${query ? `&${query}` : ''}`), 200, 'carol reads the audit log').items;
}

/** Fingerprint of everything a rejected call must not change: audit head, requests, grants. */
export async function snapshot(srv: TestServer): Promise<{ head: { seq: number; hash: string }; requests: AccessRequest[]; grants: Grant[] }> {
  const head = await srv.ks.store.read.auditHeadRow();
  const requests = expectOk<Items<AccessRequest>>(await srv.api('carol', 'GET', '/api/v1/requests'), 200, 'all requests').items;
  const grants = expectOk<Items<Grant>>(await srv.api('carol', 'GET', '/api/v1/grants?all=true'), 200, 'all grants').items;
  return { head, requests, grants };
}

/** A token for `user` that is then revoked in the store. */
export async function revokedToken(srv: TestServer, user: UserName): Promise<string> {
  const created = await srv.ks.services.tokens.create('system:test', email(user), 3600, 'to be revoked');
  await srv.ks.store.transaction((tx) => tx.revokeToken(created.id, new Date().toISOString()));
  return created.token;
}


const expiredTokens = new WeakMap<TestServer, Promise<string>>();

/**
 * A token for alice that worked (checked) and has since expired: made with a one-second
 * TTL, once per server, so the wait is paid once per suite.
 */
export function expiredToken(srv: TestServer): Promise<string> {
  let p = expiredTokens.get(srv);
  if (!p) {
    p = (async () => {
      const created = await srv.ks.services.tokens.create('system:test', email('alice'), 1, 'expires at once');
      const works = await srv.api({ token: created.token }, 'GET', '/api/v1/me');
      assert.equal(works.status, 200, `the short-lived token works before it expires: ${works.text}`);
      await sleep(Math.max(0, Date.parse(created.expires_at!) - Date.now()) + 50);
      return created.token;
    })();
    expiredTokens.set(srv, p);
  }
  return p;
}

/** A well-formed token that was never issued. */
export const UNKNOWN_TOKEN = 'ks_' + 'A'.repeat(43);

/**
 * The standard auth checks for one route: no header, a Basic header, a malformed token,
 * an unknown token, a revoked token and an expired token each get 401 UNAUTHENTICATED,
 * and the call changes nothing (no audit event).
 */
export async function expectUnauthenticated(srv: TestServer, method: string, path: string, body?: unknown): Promise<void> {
  const before = await srv.ks.store.read.auditHeadRow();
  const revoked = await revokedToken(srv, 'alice');
  const expired = await expiredToken(srv);
  const afterTokenSetup = await srv.ks.store.read.auditHeadRow();
  const cases: Array<[string, ApiResult]> = [
    ['no token', await srv.api(null, method, path, body)],
    ['malformed token', await srv.api({ token: 'not-a-token' }, method, path, body)],
    ['unknown token', await srv.api({ token: UNKNOWN_TOKEN }, method, path, body)],
    ['revoked token', await srv.api({ token: revoked }, method, path, body)],
    ['expired token', await srv.api({ token: expired }, method, path, body)],
    ['token followed by junk', await srv.api({ token: `${srv.tokens.alice} extra` }, method, path, body)],
  ];
  const basic = await fetch(srv.url + path, {
    method,
    headers: { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const basicText = await basic.text();
  cases.push(['Basic auth header', { status: basic.status, body: JSON.parse(basicText) as unknown, text: basicText }]);
  for (const [what, res] of cases) expectError(res, 401, 'UNAUTHENTICATED', `${method} ${path} with ${what}`);
  assert.ok(afterTokenSetup.seq >= before.seq);
  assert.deepEqual(await srv.ks.store.read.auditHeadRow(), afterTokenSetup, `${method} ${path}: unauthenticated calls leave no audit event`);
}

/**
 * Ends whatever the previous test left live, so each test starts with no pending request
 * and no live grant: requesters cancel their pending requests, carol revokes live grants.
 */
export async function reset(srv: TestServer): Promise<void> {
  for (const user of Object.keys(USERS) as UserName[]) {
    const mine = expectOk<Items<AccessRequest>>(await srv.api(user, 'GET', '/api/v1/requests?mine=true&state=pending'), 200, 'reset: pending').items;
    for (const r of mine) {
      const res = await srv.api(user, 'POST', `/api/v1/requests/${r.id}/cancel`);
      assert.ok(res.status === 200 || res.status === 409, `reset: cancel ${r.id}: ${res.text}`);
    }
  }
  const live = expectOk<Items<Grant>>(await srv.api('carol', 'GET', '/api/v1/grants?all=true&state=active,activating'), 200, 'reset: live grants').items;
  for (const g of live) {
    const res = await srv.api('carol', 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'test reset' });
    assert.ok(res.status === 200 || res.status === 409, `reset: revoke ${g.id}: ${res.text}`);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it returns true or `ms` pass. */
export async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}
