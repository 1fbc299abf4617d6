import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AccessRequest } from '../../src/core/model.ts';
import { accessRequest, apiError, type FakeApi, grant, profile, run, startFakeApi, tempHome } from './harness.ts';

const GRANT = 'grt_01HZX0000000000000000000BB';
const EXT = 'req_01HZX0000000000000000000EE';
const extension = (over: Partial<AccessRequest> = {}) =>
  accessRequest({ id: EXT, kind: 'extension', extends_grant_id: GRANT, duration_seconds: 1800, reason: 'still digging', ...over });
const extendedGrant = () => grant({ ends_at: new Date(Date.now() + 5400_000).toISOString(), extensions: 1 });

describe('keyshift extend', () => {
  let api: FakeApi;
  let home: { dir: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    api = await startFakeApi({
      'GET /api/v1/profiles': () => ({ json: { items: [profile('db-read', 'postgres'), profile('hosts', 'ssh')] } }),
      [`GET /api/v1/grants/${GRANT}`]: () => ({ json: extendedGrant() }),
    });
    home = await tempHome();
  });
  afterEach(async () => {
    await api.close();
    await home.cleanup();
  });
  const cli = (...argv: string[]) =>
    run(argv, { home: home.dir, env: { KEYSHIFT_SERVER: api.url, KEYSHIFT_TOKEN: 'tok_test' } });
  const polls = () => api.seen.filter((s) => s.method === 'GET' && s.path === `/api/v1/requests/${EXT}`).length;

  /** The extension is pending (202); the request stays pending for `pending` polls, then becomes `then`. */
  function pendingThen(pending: number, then: Partial<AccessRequest> | null) {
    let count = 0;
    api.routes.set(`POST /api/v1/grants/${GRANT}/extend`, () => ({
      status: 202,
      json: { request: extension(), grant: null, credentials: null },
    }));
    api.routes.set(`GET /api/v1/requests/${EXT}`, () => {
      count++;
      return { json: extension(then && count > pending ? then : {}) };
    });
  }

  it('an extension applied at once (200) says so and shows the new end', async () => {
    api.routes.set(`POST /api/v1/grants/${GRANT}/extend`, () => ({
      json: { request: extension({ state: 'approved', decided_by: 'system:policy' }), grant: extendedGrant(), credentials: null },
    }));
    const r = await cli('extend', GRANT, '--by', '30m', '--reason', 'still digging');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(api.seen.find((s) => s.method === 'POST')?.body, { duration: '30m', reason: 'still digging' });
    assert.match(r.stdout, new RegExp(`^extended ${GRANT} by 30m: now ends in 1h (29m|30m)`, 'm'));
    assert.match(r.stdout, /extended 1 time\)/);
  });

  it('an extension that needs approval (202) names the request and its approvers, and exits 0 without waiting', async () => {
    pendingThen(0, null);
    const r = await cli('extend', GRANT, '--by', '30m');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^extension request ${EXT} needs approval by 1 of group:sre-leads$`, 'm'));
    assert.match(r.stdout, new RegExp(`request\\s+${EXT}\\s+pending\\s+extension of ${GRANT} \\(db-read\\) by 30m`));
    assert.match(r.stderr, /keeps its current end/);
    assert.equal(polls(), 0);
  });

  it('a pending extension with --json prints the API answer as one value', async () => {
    pendingThen(0, null);
    const r = await cli('extend', GRANT, '--by', '30m', '--json');
    assert.equal(r.code, 0, r.stderr);
    const value = JSON.parse(r.stdout) as { request: AccessRequest; grant: null; credentials: null };
    assert.equal(value.request.id, EXT);
    assert.equal(value.request.state, 'pending');
    assert.equal(value.grant, null);
  });

  it('--wait polls the extension request and shows the grant\'s new end once approved', async () => {
    pendingThen(1, { state: 'approved', decided_by: 'bob@example.com' });
    const r = await cli('extend', GRANT, '--by', '30m', '--wait', '--timeout', '30s');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`waiting up to 30s for a decision on ${EXT}`));
    assert.ok(polls() >= 2);
    assert.match(r.stdout, new RegExp(`extended ${GRANT} by 30m: now ends in`));
    assert.ok(api.seen.some((s) => s.path === `/api/v1/grants/${GRANT}`), 'fetches the extended grant');
  });

  it('--wait exits 3 when the extension is denied', async () => {
    pendingThen(0, { state: 'denied', decided_by: 'bob@example.com', decision_comment: 'wrap up' });
    const r = await cli('extend', GRANT, '--by', '30m', '--wait');
    assert.equal(r.code, 3);
    assert.match(r.stdout, /denied/);
    assert.match(r.stdout, /bob@example\.com: wrap up/);
  });

  it('--wait exits 1 when the extension request expires unanswered', async () => {
    pendingThen(0, { state: 'expired' });
    const r = await cli('extend', GRANT, '--by', '30m', '--wait');
    assert.equal(r.code, 1);
  });

  it('--wait exits 4 when the timeout passes, leaving the request pending', async () => {
    pendingThen(0, null);
    const r = await cli('extend', GRANT, '--by', '30m', '--wait', '--timeout', '1s');
    assert.equal(r.code, 4);
    assert.match(r.stderr, /still pending.*\(TIMEOUT\)/);
    assert.equal(api.seen.some((s) => s.path.endsWith('/cancel')), false);
  });

  it('--wait --json prints only the final {request, grant, credentials} on stdout', async () => {
    pendingThen(0, { state: 'approved' });
    const r = await cli('extend', GRANT, '--by', '30m', '--wait', '--json');
    assert.equal(r.code, 0, r.stderr);
    const value = JSON.parse(r.stdout) as { request: AccessRequest; grant: { id: string; extensions: number }; credentials: null };
    assert.equal(value.request.state, 'approved');
    assert.equal(value.grant.extensions, 1);
    assert.equal(value.credentials, null);
    assert.match(r.stderr, /waiting/);
  });

  it('--wait on an approved SSH extension says how to get a certificate valid to the new end', async () => {
    pendingThen(0, { state: 'approved', profile: 'hosts' });
    api.routes.set(`GET /api/v1/grants/${GRANT}`, () => ({ json: grant({ profile: 'hosts', connector: 'conn-ssh', extensions: 1 }) }));
    const r = await cli('extend', GRANT, '--by', '30m', '--wait');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`keyshift creds ${GRANT}`));
  });

  it('an extension applied at once with re-issued SSH credentials writes the new certificate', async () => {
    await mkdir(join(home.dir, '.ssh'));
    await writeFile(join(home.dir, '.ssh', 'id_ed25519.pub'), 'ssh-ed25519 AAAA alice\n');
    api.routes.set(`POST /api/v1/grants/${GRANT}/extend`, () => ({
      json: {
        request: extension({ state: 'approved', profile: 'hosts' }),
        grant: grant({ profile: 'hosts', connector: 'conn-ssh', extensions: 1 }),
        credentials: {
          grant_id: GRANT, kind: 'ssh_certificate', expires_at: new Date(Date.now() + 5400_000).toISOString(),
          credentials: { certificate: 'ssh-ed25519-cert-v01@openssh.com AAAA-new', principals: ['alice'] },
        },
      },
    }));
    const r = await cli('extend', GRANT, '--by', '30m');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(home.dir, '.ssh', 'id_ed25519-cert.pub'), 'utf8'), 'ssh-ed25519-cert-v01@openssh.com AAAA-new\n');
    assert.match(r.stderr, /wrote SSH certificate/);
  });

  it('an extension beyond the profile\'s limits is denied by policy: exit 3', async () => {
    api.routes.set(`POST /api/v1/grants/${GRANT}/extend`, () =>
      apiError(403, 'POLICY_DENIED', `grant ${GRANT} has been extended 2 times; db-read allows 2`));
    const r = await cli('extend', GRANT, '--by', '30m', '--wait');
    assert.equal(r.code, 3);
    assert.match(r.stderr, /allows 2 \(POLICY_DENIED\)/);
    assert.equal(polls(), 0);
  });

  it('a bad --timeout is a usage error before anything is sent', async () => {
    const r = await cli('extend', GRANT, '--by', '30m', '--wait', '--timeout', 'forever');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--timeout "forever"/);
    assert.equal(api.seen.length, 0);
  });
});
