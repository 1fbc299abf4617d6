import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AccessRequest } from '../../src/core/model.ts';
import { accessRequest, apiError, type FakeApi, grant, profile, run, startFakeApi, tempHome } from './harness.ts';

describe('keyshift request', () => {
  let api: FakeApi;
  let home: { dir: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    api = await startFakeApi({
      'GET /api/v1/profiles': () => ({ json: { items: [profile('db-read', 'postgres')] } }),
      'GET /api/v1/grants/grt_01HZX0000000000000000000BB': () => ({ json: grant() }),
    });
    home = await tempHome();
  });
  afterEach(async () => {
    await api.close();
    await home.cleanup();
  });
  const cli = (...argv: string[]) =>
    run(argv, { home: home.dir, env: { KEYSHIFT_SERVER: api.url, KEYSHIFT_TOKEN: 'tok_test' } });

  /** The request stays pending for `polls` GETs, then turns into `then`. */
  function pendingThen(polls: number, then: Partial<AccessRequest> | null) {
    let count = 0;
    api.routes.set('POST /api/v1/requests', () => ({ status: 201, json: { request: accessRequest(), grant: null } }));
    api.routes.set('GET /api/v1/requests/req_01HZX0000000000000000000AA', () => {
      count++;
      return { json: accessRequest(then && count > polls ? then : {}) };
    });
  }

  it('sends the profile, duration, reason, ticket, incident and break-glass as given', async () => {
    pendingThen(0, null);
    const r = await cli('request', 'db-read', '--for', '2h', '--reason', 'INC-1 triage', '--ticket', 'OPS-7', '--incident', 'P123', '--break-glass');
    assert.equal(r.code, 0, r.stderr);
    const post = api.seen.find((s) => s.method === 'POST');
    assert.deepEqual(post?.body, { profile: 'db-read', duration: '2h', reason: 'INC-1 triage', ticket: 'OPS-7', incident: 'P123', break_glass: true });
    assert.equal(post?.authorization, 'Bearer tok_test');
    assert.match(r.stdout, /req_01HZX0000000000000000000AA/);
  });

  it('a request the policy refuses exits 3 with the reason and the code', async () => {
    api.routes.set('POST /api/v1/requests', () => apiError(403, 'POLICY_DENIED', 'alice@example.com may not request db-admin'));
    const r = await cli('request', 'db-admin', '--reason', 'x');
    assert.equal(r.code, 3);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'error: alice@example.com may not request db-admin (POLICY_DENIED)\n');
  });

  it('with --json, a policy refusal prints the API error object on stdout and still exits 3', async () => {
    api.routes.set('POST /api/v1/requests', () => apiError(403, 'POLICY_DENIED', 'no', { reasons: ['not on call'] }));
    const r = await cli('request', 'db-admin', '--json');
    assert.equal(r.code, 3);
    assert.deepEqual(JSON.parse(r.stdout), {
      error: { code: 'POLICY_DENIED', message: 'no', request_id: 'rid_test', details: { reasons: ['not on call'] } },
    });
  });

  it('an auto-approved request prints the grant at once and exits 0', async () => {
    api.routes.set('POST /api/v1/requests', () => ({
      status: 201,
      json: { request: accessRequest({ state: 'approved', grant_id: grant().id }), grant: grant() },
    }));
    const r = await cli('request', 'db-read', '--wait');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /grt_01HZX0000000000000000000BB\s+active/);
    assert.equal(api.seen.filter((s) => s.path.startsWith('/api/v1/requests/')).length, 0);
  });

  it('--wait says it is waiting and for whom, then exits 0 and prints the grant once approved', async () => {
    pendingThen(1, { state: 'approved', grant_id: grant().id, decided_by: 'bob@example.com' });
    const r = await cli('request', 'db-read', '--reason', 'x', '--wait', '--timeout', '30s');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /waiting .*1 of group:sre-leads/);
    assert.match(r.stdout, /grant\s+grt_01HZX0000000000000000000BB\s+active/);
    assert.match(r.stdout, /ends in (59m|1h)/);
  });

  it('--wait exits 4 when the timeout passes and the request stays pending', async () => {
    pendingThen(0, null);
    const r = await cli('request', 'db-read', '--wait', '--timeout', '1s');
    assert.equal(r.code, 4);
    assert.match(r.stderr, /still pending.*\(TIMEOUT\)/);
    assert.equal(api.seen.some((s) => s.path.endsWith('/cancel')), false);
  });

  it('--wait exits 3 when the request is denied', async () => {
    pendingThen(0, { state: 'denied', decided_by: 'bob@example.com', decision_comment: 'use db-read' });
    const r = await cli('request', 'db-admin', '--wait');
    assert.equal(r.code, 3);
    assert.match(r.stdout, /denied/);
    assert.match(r.stdout, /bob@example\.com: use db-read/);
  });

  it('--wait exits 1 when the request expires unanswered', async () => {
    pendingThen(0, { state: 'expired' });
    const r = await cli('request', 'db-read', '--wait');
    assert.equal(r.code, 1);
  });

  it('--wait --json prints only the final {request, grant} on stdout', async () => {
    pendingThen(0, { state: 'approved', grant_id: grant().id });
    const r = await cli('request', 'db-read', '--wait', '--json');
    assert.equal(r.code, 0, r.stderr);
    const value = JSON.parse(r.stdout) as { request: AccessRequest; grant: { id: string } };
    assert.equal(value.request.state, 'approved');
    assert.equal(value.grant.id, grant().id);
    assert.match(r.stderr, /waiting/);
  });

  it('a pending request without --wait exits 0 and shows the full request ID to copy', async () => {
    pendingThen(0, null);
    const r = await cli('request', 'db-read');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /request\s+req_01HZX0000000000000000000AA\s+pending\s+db-read for 1h/);
  });

  it('a request for a profile you already hold says it is an extension request for that grant', async () => {
    api.routes.set('POST /api/v1/requests', () => ({
      status: 201,
      json: { request: accessRequest({ kind: 'extension', extends_grant_id: grant().id, duration_seconds: 1800 }), grant: null },
    }));
    const r = await cli('request', 'db-read', '--for', '30m');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`you already hold ${grant().id} for db-read: this is a request to extend it by 30m`));
    assert.match(r.stdout, new RegExp(`request\\s+req_01HZX0000000000000000000AA\\s+pending\\s+extension of ${grant().id} \\(db-read\\) by 30m`));
  });

  it('--wait on an extension request shows the extended grant once approved', async () => {
    let count = 0;
    const ext = { kind: 'extension' as const, extends_grant_id: grant().id, duration_seconds: 1800 };
    api.routes.set('POST /api/v1/requests', () => ({ status: 201, json: { request: accessRequest(ext), grant: null } }));
    api.routes.set('GET /api/v1/requests/req_01HZX0000000000000000000AA', () => {
      count++;
      return { json: accessRequest({ ...ext, ...(count > 1 ? { state: 'approved', decided_by: 'bob@example.com' } : {}) }) };
    });
    const r = await cli('request', 'db-read', '--for', '30m', '--wait');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(api.seen.some((s) => s.path === `/api/v1/grants/${grant().id}`), 'fetches the grant it extends');
    assert.match(r.stdout, /grant\s+grt_01HZX0000000000000000000BB\s+active/);
  });
});
