import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { accessRequest, apiError, explanation, type FakeApi, grant, profile, run, startFakeApi, tempHome } from './harness.ts';

const REQ = 'req_01HZX0000000000000000000AA';
const GRANT = 'grt_01HZX0000000000000000000BB';
const event = {
  seq: 1, id: 'evt_01', time: new Date(Date.now() - 120_000).toISOString(), action: 'grant.activated',
  actor: 'system:worker', subject: 'alice@example.com', profile: 'db-read', connector: 'prod-db',
  request_id: REQ, grant_id: GRANT, incident: null, ticket: null, reason: null, details: {}, prev_hash: '0', hash: 'h1',
};

describe('keyshift verbs against the API', () => {
  let api: FakeApi;
  let home: { dir: string; cleanup: () => Promise<void> };
  let verifyOk = true;
  before(async () => {
    home = await tempHome();
    api = await startFakeApi({
      'GET /api/v1/me': () => ({ json: { email: 'alice@example.com', groups: ['sre'], admin: true } }),
      'GET /api/v1/profiles': () => ({ json: { items: [profile('db-read', 'postgres'), profile('hosts', 'ssh')] } }),
      'GET /api/v1/profiles/db-read/explain': (s) => ({
        json: explanation({ user: s.query.get('user') ?? 'alice@example.com', duration_seconds: 7200, reasons: ['alice is not on call for PABC123'] }),
      }),
      'GET /api/v1/requests': () => ({ json: { items: [accessRequest(), accessRequest({ id: 'req_2', state: 'approved' })] } }),
      [`GET /api/v1/requests/${REQ}`]: () => ({ json: accessRequest() }),
      [`POST /api/v1/requests/${REQ}/approve`]: () => ({
        json: { request: accessRequest({ state: 'approved', grant_id: GRANT }), grant: grant() },
      }),
      [`POST /api/v1/requests/${REQ}/deny`]: () => ({ json: { request: accessRequest({ state: 'denied' }), grant: null } }),
      [`POST /api/v1/requests/${REQ}/cancel`]: () => ({ json: { request: accessRequest({ state: 'cancelled' }), grant: null } }),
      'POST /api/v1/requests/req_self/approve': () => apiError(403, 'POLICY_DENIED', 'nobody approves their own request'),
      'GET /api/v1/grants': () => ({ json: { items: [grant(), grant({ id: 'grt_2', state: 'expired', ended_at: new Date().toISOString() })] } }),
      [`POST /api/v1/grants/${GRANT}/extend`]: () => ({
        json: { request: accessRequest({ kind: 'extension', extends_grant_id: GRANT, state: 'approved' }), grant: grant(), credentials: null },
      }),
      [`POST /api/v1/grants/${GRANT}/release`]: () => ({ json: { grant: grant({ state: 'released', ended_at: new Date().toISOString() }) } }),
      [`POST /api/v1/grants/${GRANT}/revoke`]: () => ({ json: { grant: grant({ state: 'revoked', ended_at: new Date().toISOString() }) } }),
      'GET /api/v1/audit': (s) =>
        s.query.get('format') === 'csv' ? { text: 'seq,action\n1,grant.activated\n' } : { json: { items: [event] } },
      'GET /api/v1/audit/verify': () => ({
        json: verifyOk
          ? { ok: true, checked: 12, head: 'h12', first_broken: null }
          : { ok: false, checked: 7, head: 'h12', first_broken: { seq: 7, id: 'evt_07', problem: 'hash does not match contents' } },
      }),
      'GET /api/v1/reports/incidents/INC-1': (s) =>
        s.query.get('format') === 'json' ? { json: { incident: 'INC-1', grants: [] } } : { text: '# Incident INC-1\n' },
      'GET /api/v1/tokens': () => ({
        json: { items: [{ id: 'tok_01', user: 'alice@example.com', label: 'laptop', created_at: new Date().toISOString(), created_by: 'carol@example.com', expires_at: null, revoked_at: null, last_used_at: null }] },
      }),
      'POST /api/v1/tokens/tok_01/revoke': () => ({
        json: { id: 'tok_01', user: 'alice@example.com', label: 'laptop', created_at: new Date().toISOString(), created_by: 'carol@example.com', expires_at: null, revoked_at: new Date().toISOString(), last_used_at: null },
      }),
      'POST /api/v1/tokens': (s) => ({
        status: 201,
        json: { id: 'tok_01', token: 'ks_secret_value', user: s.body?.user, expires_at: new Date(Date.now() + 86400_000 * 30).toISOString() },
      }),
    });
  });
  after(async () => {
    await api.close();
    await home.cleanup();
  });
  const cli = (...argv: string[]) =>
    run(argv, { home: home.dir, env: { KEYSHIFT_SERVER: api.url, KEYSHIFT_TOKEN: 'tok_test' } });
  const last = (method: string, path: string) => api.seen.filter((s) => s.method === method && s.path === path).at(-1);

  it('token list shows tokens without secrets and token revoke posts to the token', async () => {
    const list = await cli('token', 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /tok_01\s+active\s+alice@example\.com\s+laptop/);
    const revoked = await cli('token', 'revoke', 'tok_01');
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked token tok_01 of alice@example\.com/);
    assert.ok(last('POST', '/api/v1/tokens/tok_01/revoke'));
    const missing = await cli('token', 'revoke');
    assert.equal(missing.code, 2);
  });

  const jsonCommands: string[][] = [
    ['whoami'], ['profiles'], ['policy', 'explain', 'db-read'], ['requests', '--pending'], ['approve', REQ],
    ['deny', REQ], ['cancel', REQ], ['grants', '--all'], ['extend', GRANT, '--by', '30m'], ['release', GRANT],
    ['revoke', GRANT, '--reason', 'left the team'], ['audit'], ['audit', 'verify'], ['report', 'incident', 'INC-1'],
    ['token', 'create', '--user', 'ci@example.com'], ['request', 'db-read'],
  ];
  for (const argv of jsonCommands) {
    it(`${argv.slice(0, 2).join(' ')} --json prints one parseable JSON value and nothing else on stdout`, async () => {
      api.routes.set('POST /api/v1/requests', () => ({ status: 201, json: { request: accessRequest(), grant: null } }));
      const r = await cli(...argv, '--json');
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotThrow(() => JSON.parse(r.stdout), r.stdout);
      assert.equal(typeof JSON.parse(r.stdout), 'object');
    });
  }

  it('whoami shows the email, groups and admin flag', async () => {
    const r = await cli('whoami');
    assert.match(r.stdout, /alice@example\.com \(admin\)\ngroups: sre\n/);
  });

  it('profiles shows a table with durations and approval terms', async () => {
    const r = await cli('profiles');
    assert.match(r.stdout, /^PROFILE\s+CONNECTOR\s+DURATION/);
    assert.match(r.stdout, /db-read\s+conn-postgres \(postgres\)\s+1h \(max 4h\)\s+1 of group:sre-leads/);
  });

  it('policy explain passes --user and --for and shows reasons and eligible approvers', async () => {
    const r = await cli('policy', 'explain', 'db-read', '--user', 'carol@example.com', '--for', '2h');
    assert.equal(r.code, 0);
    const seen = last('GET', '/api/v1/profiles/db-read/explain');
    assert.equal(seen?.query.get('user'), 'carol@example.com');
    assert.equal(seen?.query.get('duration'), '2h');
    assert.match(r.stdout, /db-read for carol@example\.com, 2h: needs approval/);
    assert.match(r.stdout, /rule 1: 1 of group:sre-leads \(eligible: bob@example\.com\)/);
  });

  it('requests maps --pending, --mine and --to-review to query parameters and prints full IDs', async () => {
    const r = await cli('requests', '--pending', '--mine', '--to-review');
    const seen = last('GET', '/api/v1/requests');
    assert.equal(seen?.query.toString(), 'state=pending&mine=true&to_review=true');
    assert.match(r.stdout, new RegExp(`^${REQ}\\s+pending\\s+grant\\s+db-read\\s+alice@example.com\\s+1h`, 'm'));
  });

  it('grants shows the time left on active grants', async () => {
    const r = await cli('grants', '--all', '--state', 'active');
    assert.equal(last('GET', '/api/v1/grants')?.query.toString(), 'state=active&all=true');
    assert.match(r.stdout, new RegExp(`^${GRANT}\\s+active\\s+db-read\\s+alice@example.com\\s+(59m \\d+s|1h)\\s`, 'm'));
  });

  it('approve sends the comment and prints the grant it activated', async () => {
    const r = await cli('approve', REQ, '--comment', 'go');
    assert.equal(r.code, 0);
    assert.deepEqual(last('POST', `/api/v1/requests/${REQ}/approve`)?.body, { comment: 'go' });
    assert.match(r.stdout, new RegExp(`grant\\s+${GRANT}\\s+active`));
  });

  it('approving your own request is denied by policy: exit 3', async () => {
    const r = await cli('approve', 'req_self');
    assert.equal(r.code, 3);
    assert.match(r.stderr, /nobody approves their own request \(POLICY_DENIED\)/);
  });

  it('a request ID that does not exist exits 1 with NOT_FOUND', async () => {
    const r = await cli('cancel', 'req_missing');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\(NOT_FOUND\)/);
  });

  it('extend sends the duration and reason', async () => {
    const r = await cli('extend', GRANT, '--by', '30m', '--reason', 'still digging');
    assert.equal(r.code, 0);
    assert.deepEqual(last('POST', `/api/v1/grants/${GRANT}/extend`)?.body, { duration: '30m', reason: 'still digging' });
  });

  it('revoke sends its reason', async () => {
    await cli('revoke', GRANT, '--reason', 'left the team');
    assert.deepEqual(last('POST', `/api/v1/grants/${GRANT}/revoke`)?.body, { reason: 'left the team' });
  });

  it('audit passes its filters and prints a table', async () => {
    const r = await cli('audit', '--since', '24h', '--actor', 'bob@example.com', '--action', 'grant.activated', '--incident', 'INC-1');
    assert.equal(
      last('GET', '/api/v1/audit')?.query.toString(),
      'since=24h&actor=bob%40example.com&action=grant.activated&incident=INC-1&format=json',
    );
    assert.match(r.stdout, /^SEQ\s+WHEN\s+ACTION/);
    assert.match(r.stdout, /2m ago\s+grant\.activated/);
  });

  it('audit --format csv prints the server\'s CSV unchanged', async () => {
    const r = await cli('audit', '--format', 'csv');
    assert.equal(r.stdout, 'seq,action\n1,grant.activated\n');
  });

  it('audit verify exits 0 on an intact chain', async () => {
    verifyOk = true;
    const r = await cli('audit', 'verify');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /intact: 12 events/);
  });

  it('audit verify exits 1 and names the first broken link', async () => {
    verifyOk = false;
    const r = await cli('audit', 'verify');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BROKEN at seq 7 \(evt_07\): hash does not match contents/);
    const j = await cli('audit', 'verify', '--json');
    assert.equal(j.code, 1);
    assert.equal((JSON.parse(j.stdout) as { ok: boolean }).ok, false);
    verifyOk = true;
  });

  it('report incident prints Markdown by default', async () => {
    const r = await cli('report', 'incident', 'INC-1');
    assert.equal(r.stdout, '# Incident INC-1\n');
    assert.equal(last('GET', '/api/v1/reports/incidents/INC-1')?.query.get('format'), 'md');
  });

  it('token create prints the token alone on stdout, once, and the rest on stderr', async () => {
    const r = await cli('token', 'create', '--user', 'ci@example.com', '--ttl', '30d', '--label', 'ci');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ks_secret_value\n');
    assert.match(r.stderr, /tok_01 for ci@example\.com, expires in 30d/);
    assert.deepEqual(last('POST', '/api/v1/tokens')?.body, { user: 'ci@example.com', ttl: '30d', label: 'ci' });
  });

  it('no command but token create prints the API token', async () => {
    for (const argv of jsonCommands.filter((a) => a[0] !== 'token')) {
      const r = await cli(...argv);
      assert.doesNotMatch(r.stdout + r.stderr, /tok_test/, argv.join(' '));
    }
  });
});
