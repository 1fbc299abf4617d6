/**
 * /api/v1/grants: list, read, credentials (SSH certificates checked with ssh-keygen),
 * extend, release, revoke — happy paths, bad input, and security.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKeyshift, DEFAULT_PROFILES } from '../harness/keyshift.ts';
import type { TestServer } from '../harness/keyshift.ts';
import type { AccessRequest, Grant } from '../../src/core/model.ts';
import {
  activeHostShell,
  auditEvents,
  createRequest,
  email,
  expectError,
  expectOk,
  expectUnauthenticated,
  getGrant,
  removeKeys,
  reset,
  sleep,
  snapshot,
  sshPrivateKey,
  sshPublicKey,
  waitFor,
  type Items,
  type Outcome,
} from './helpers.ts';

interface Credentials {
  grant_id: string;
  kind: string;
  expires_at: string;
  credentials: { certificate: string; principals: string };
}
interface Extended {
  request: AccessRequest;
  grant: Grant | null;
  credentials: Credentials | null;
}

const PROFILES: Record<string, unknown> = {
  ...DEFAULT_PROFILES,
  // host-shell, but the grantee extends without asking anyone.
  'self-extend': {
    ...(DEFAULT_PROFILES['host-shell'] as Record<string, unknown>),
    description: 'Shell on hosts; extensions need no approval',
    extend: { max_times: 2, max_total: '2h', approval: 'none' },
  },
};

const NO_SUCH_GRANT = 'grt_' + '0'.repeat(26);

describe('grants API', () => {
  let srv: TestServer;
  let work: string;

  before(async () => {
    srv = await startKeyshift({ profiles: PROFILES });
    work = mkdtempSync(join(tmpdir(), 'keyshift-http-grants-'));
  });
  after(async () => {
    await srv?.close();
    removeKeys();
    rmSync(work, { recursive: true, force: true });
  });
  afterEach(async () => {
    await reset(srv);
  });

  const creds = async (g: Grant, key = sshPublicKey()) =>
    expectOk<Credentials>(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: key }), 200, 'alice gets credentials');

  /** `ssh-keygen -L` on a certificate line. */
  function describeCert(line: string): string {
    const path = join(work, `cert-${Date.now()}-${Math.random().toString(16).slice(2)}-cert.pub`);
    writeFileSync(path, line + '\n');
    const out = spawnSync('ssh-keygen', ['-L', '-f', path], { encoding: 'utf8' });
    assert.equal(out.status, 0, `ssh-keygen -L: ${out.stderr}`);
    return out.stdout;
  }

  /** Whether the server's published KRL revokes this certificate, per `ssh-keygen -Q`. */
  async function krlRevokes(certLine: string): Promise<boolean> {
    const res = await fetch(`${srv.url}/api/v1/connectors/hosts/krl`);
    assert.equal(res.status, 200);
    const krl = join(work, `krl-${Date.now()}`);
    writeFileSync(krl, Buffer.from(await res.arrayBuffer()));
    const cert = join(work, `q-${Date.now()}-cert.pub`);
    writeFileSync(cert, certLine + '\n');
    const out = spawnSync('ssh-keygen', ['-Q', '-f', krl, cert], { encoding: 'utf8' });
    const text = out.stdout + out.stderr;
    if (/REVOKED/.test(text)) return true;
    assert.match(text, /ok/, `ssh-keygen -Q: ${text}`);
    return false;
  }

  describe('GET /api/v1/grants', () => {
    it('the grantee lists her own grants, filtered by state', async () => {
      const g = await activeHostShell(srv);
      const all = expectOk<Items<Grant>>(await srv.api('alice', 'GET', '/api/v1/grants'), 200).items;
      assert.ok(all.some((x) => x.id === g.id));
      assert.ok(all.every((x) => x.grantee === email('alice')));
      const active = expectOk<Items<Grant>>(await srv.api('alice', 'GET', '/api/v1/grants?state=active'), 200).items;
      assert.ok(active.some((x) => x.id === g.id));
      assert.ok(active.every((x) => x.state === 'active'));
      const ended = expectOk<Items<Grant>>(await srv.api('alice', 'GET', '/api/v1/grants?state=expired,revoked,released'), 200).items;
      assert.ok(!ended.some((x) => x.id === g.id));
    });

    it("another user's grants are not in my list", async () => {
      const g = await activeHostShell(srv);
      for (const who of ['mallory', 'bob', 'dave'] as const) {
        const items = expectOk<Items<Grant>>(await srv.api(who, 'GET', '/api/v1/grants'), 200, who).items;
        assert.ok(!items.some((x) => x.id === g.id), who);
      }
    });

    it("listing all grants or another user's grants is FORBIDDEN for non-admins and works for admins", async () => {
      const g = await activeHostShell(srv);
      expectError(await srv.api('mallory', 'GET', '/api/v1/grants?all=true'), 403, 'FORBIDDEN', 'all');
      expectError(await srv.api('mallory', 'GET', `/api/v1/grants?user=${email('alice')}`), 403, 'FORBIDDEN', 'user');
      expectError(await srv.api('bob', 'GET', '/api/v1/grants?all=1'), 403, 'FORBIDDEN', 'approver all');
      const byUser = expectOk<Items<Grant>>(await srv.api('carol', 'GET', `/api/v1/grants?user=${email('alice')}`), 200).items;
      assert.ok(byUser.some((x) => x.id === g.id));
      assert.ok(byUser.every((x) => x.grantee === email('alice')));
      const all = expectOk<Items<Grant>>(await srv.api('carol', 'GET', '/api/v1/grants?all=true'), 200).items;
      assert.ok(all.some((x) => x.id === g.id));
    });

    for (const q of ['state=bogus', 'state=active,nope', 'all=yes', 'mine=true', 'limit=1']) {
      it(`?${q} is INVALID_INPUT`, async () => {
        expectError(await srv.api('carol', 'GET', `/api/v1/grants?${q}`), 400, 'INVALID_INPUT');
      });
    }

    it('listing without a valid token is UNAUTHENTICATED', async () => {
      await expectUnauthenticated(srv, 'GET', '/api/v1/grants');
    });
  });

  describe('GET /api/v1/grants/:id', () => {
    it('the grantee, an approver of the profile and an admin can read a grant', async () => {
      const g = await activeHostShell(srv);
      for (const who of ['alice', 'bob', 'erin', 'carol'] as const) {
        const got = expectOk<Grant>(await srv.api(who, 'GET', `/api/v1/grants/${g.id}`), 200, who);
        assert.equal(got.id, g.id);
        assert.equal(got.state, 'active');
        assert.equal(got.grantee, email('alice'));
      }
    });

    it("another user's grant is NOT_FOUND, indistinguishable from one that does not exist", async () => {
      const g = await activeHostShell(srv);
      const theirs = expectError(await srv.api('mallory', 'GET', `/api/v1/grants/${g.id}`), 404, 'NOT_FOUND', 'mallory');
      expectError(await srv.api('dave', 'GET', `/api/v1/grants/${g.id}`), 404, 'NOT_FOUND', 'dave');
      const missing = expectError(await srv.api('mallory', 'GET', `/api/v1/grants/${NO_SUCH_GRANT}`), 404, 'NOT_FOUND');
      assert.equal(theirs.message.replace(g.id, 'ID'), missing.message.replace(NO_SUCH_GRANT, 'ID'));
    });

    for (const id of ['grt_nope', 'req_' + '0'.repeat(26), '%2e%2e', "grt_' OR 1=1 --"]) {
      it(`a malformed or foreign id ${JSON.stringify(id)} is NOT_FOUND`, async () => {
        expectError(await srv.api('alice', 'GET', `/api/v1/grants/${id}`), 404, 'NOT_FOUND');
      });
    }

    it('reading without a valid token is UNAUTHENTICATED', async () => {
      const g = await activeHostShell(srv);
      await expectUnauthenticated(srv, 'GET', `/api/v1/grants/${g.id}`);
    });
  });

  describe('POST /api/v1/grants/:id/credentials', () => {
    it('the grantee gets an SSH certificate for her key that ends no later than the grant', async () => {
      const g = await activeHostShell(srv);
      const c = await creds(g);
      assert.equal(c.grant_id, g.id);
      assert.equal(c.kind, 'ssh_certificate');
      assert.ok(Date.parse(c.expires_at) <= Date.parse(g.ends_at!));
      assert.ok(Date.parse(c.expires_at) > Date.now());
      assert.match(c.credentials.certificate, /^ssh-ed25519-cert-v01@openssh\.com /);
      assert.equal(c.credentials.principals, 'oncall');
      const info = describeCert(c.credentials.certificate);
      assert.match(info, new RegExp(`Key ID: "${g.id}"`));
      assert.match(info, /Principals:\s+oncall/);
      assert.doesNotMatch(JSON.stringify(c), /PRIVATE KEY/);
      const events = await auditEvents(srv, `grant=${g.id}&action=grant.credentials_issued`);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor, email('alice'));
      assert.ok(events[0]!.details['serial'], 'the serial is audited');
      assert.doesNotMatch(JSON.stringify(events[0]), /BEGIN|cert-v01/);
    });

    it('each call signs a fresh certificate with a new serial', async () => {
      const g = await activeHostShell(srv);
      const a = await creds(g);
      const b = await creds(g, sshPublicKey('second'));
      assert.notEqual(a.credentials.certificate, b.credentials.certificate);
      const serials = (await auditEvents(srv, `grant=${g.id}&action=grant.credentials_issued`)).map((e) => e.details['serial']);
      assert.equal(new Set(serials).size, 2);
    });

    const notKeys: Array<[string, () => unknown]> = [
      ['no public_key', () => undefined],
      ['an empty string', () => ''],
      ['plain text', () => 'hello'],
      ['a private key', () => sshPrivateKey()],
      ['a key line with broken base64 data', () => 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBROKEN'],
      ['a key whose type label does not match its data', () => sshPublicKey().replace(/^ssh-ed25519/, 'ecdsa-sha2-nistp256')],
      ['a DSA key label', () => 'ssh-dss ' + sshPublicKey().split(' ')[1]],
      ['an unknown key type', () => 'ssh-foo ' + sshPublicKey().split(' ')[1]],
      ['two keys on two lines', () => `${sshPublicKey()}\n${sshPublicKey('second')}`],
      ['a number', () => 42],
      ['an object', () => ({ key: sshPublicKey() })],
      ['a 20 000 character string', () => 'ssh-ed25519 ' + 'A'.repeat(20_000)],
    ];
    for (const [what, make] of notKeys) {
      it(`a public key that is ${what} is INVALID_INPUT and issues nothing`, async () => {
        const g = await activeHostShell(srv);
        const value = make();
        const before = await snapshot(srv);
        const body = value === undefined ? {} : { public_key: value };
        expectError(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/credentials`, body), 400, 'INVALID_INPUT');
        assert.deepEqual(await snapshot(srv), before);
      });
    }

    it('a certificate sent as the public key is INVALID_INPUT', async () => {
      const g = await activeHostShell(srv);
      const c = await creds(g);
      const e = expectError(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: c.credentials.certificate }), 400, 'INVALID_INPUT');
      assert.match(e.message, /certificate/);
    });

    it('an unknown field in the body is INVALID_INPUT', async () => {
      const g = await activeHostShell(srv);
      expectError(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: sshPublicKey(), principals: ['root'] }), 400, 'INVALID_INPUT');
    });

    it('someone other than the grantee gets no credentials: FORBIDDEN for those who can see the grant, NOT_FOUND for others', async () => {
      const g = await activeHostShell(srv);
      const before = await snapshot(srv);
      expectError(await srv.api('bob', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: sshPublicKey() }), 403, 'FORBIDDEN', 'approver');
      expectError(await srv.api('carol', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: sshPublicKey() }), 403, 'FORBIDDEN', 'admin');
      expectError(await srv.api('mallory', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: sshPublicKey() }), 404, 'NOT_FOUND', 'stranger');
      assert.deepEqual(await snapshot(srv), before);
    });

    it('an ended grant issues no credentials: CONFLICT', async () => {
      const g = await activeHostShell(srv);
      expectOk(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`), 200);
      expectError(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: sshPublicKey() }), 409, 'CONFLICT');
    });

    it('getting credentials without a valid token is UNAUTHENTICATED', async () => {
      const g = await activeHostShell(srv);
      await expectUnauthenticated(srv, 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: sshPublicKey() });
    });
  });

  describe('POST /api/v1/grants/:id/extend (extend.approval: none — the grantee extends alone)', () => {
    const selfExtend = () => activeHostShell(srv, { profile: 'self-extend' });
    const extend = (g: Grant, body: unknown, as: 'alice' | 'bob' | 'carol' | 'mallory' = 'alice') => srv.api<Extended>(as, 'POST', `/api/v1/grants/${g.id}/extend`, body);

    it('the grantee extends an active grant: the deadline moves, the count goes up, the reason is audited', async () => {
      const g = await selfExtend();
      const out = expectOk<Extended>(await extend(g, { duration: '15m', reason: 'still digging' }), 200);
      assert.equal(out.request.kind, 'extension');
      assert.equal(out.request.extends_grant_id, g.id);
      assert.equal(out.request.state, 'approved');
      assert.ok(out.grant);
      assert.equal(out.grant.extensions, 1);
      assert.equal(Date.parse(out.grant.ends_at!) - Date.parse(g.ends_at!), 15 * 60 * 1000);
      assert.equal(out.credentials, null, 'no certificate was issued before, so none is re-issued');
      const events = await auditEvents(srv, `grant=${g.id}&action=grant.extended`);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.reason, 'still digging');
      assert.equal(events[0]!.details['ends_at'], out.grant.ends_at);
    });

    it('extending a grant that has a certificate re-issues one valid until the new deadline', async () => {
      const g = await selfExtend();
      await creds(g);
      const out = expectOk<Extended>(await extend(g, { duration: '10m' }), 200);
      assert.ok(out.credentials, 'a fresh certificate');
      assert.ok(Date.parse(out.credentials.expires_at) <= Date.parse(out.grant!.ends_at!));
      assert.ok(Date.parse(out.credentials.expires_at) > Date.parse(g.ends_at!));
      assert.match(describeCert(out.credentials.credentials.certificate), new RegExp(`Key ID: "${g.id}"`));
    });

    it('a grant cannot be extended more than max_times: POLICY_DENIED and nothing changes', async () => {
      const g = await selfExtend();
      for (let i = 0; i < 2; i++) expectOk(await extend(g, { duration: '5m' }), 200, `extension ${i + 1}`);
      const before = await snapshot(srv);
      const e = expectError(await extend(g, { duration: '5m' }), 403, 'POLICY_DENIED');
      assert.match(e.message, /2/);
      assert.deepEqual(await snapshot(srv), before);
      assert.equal((await getGrant(srv, g.id)).extensions, 2);
    });

    it('a grant cannot be extended beyond max_total: POLICY_DENIED, while exactly max_total is allowed', async () => {
      const g = await selfExtend(); // 30m; the profile allows 2h in total
      const before = await snapshot(srv);
      const e = expectError(await extend(g, { duration: '1h30m1s' }), 403, 'POLICY_DENIED');
      assert.match(e.message, /2h/);
      assert.deepEqual(await snapshot(srv), before);
      const out = expectOk<Extended>(await extend(g, { duration: '1h30m' }), 200);
      assert.equal(Date.parse(out.grant!.ends_at!) - Date.parse(out.grant!.activated_at!), 2 * 3600 * 1000);
      expectError(await extend(g, { duration: '1s' }), 403, 'POLICY_DENIED', 'at the limit');
    });

    it('a grant on a profile without extensions cannot be extended: POLICY_DENIED', async () => {
      const out = await createRequest(srv, 'mallory', { profile: 'logs', duration: '10m' });
      expectError(await srv.api('mallory', 'POST', `/api/v1/grants/${out.grant!.id}/extend`, { duration: '5m' }), 403, 'POLICY_DENIED');
    });

    it('someone other than the grantee cannot extend: FORBIDDEN for an approver or admin, NOT_FOUND for a stranger', async () => {
      const g = await selfExtend();
      const before = await snapshot(srv);
      expectError(await extend(g, { duration: '5m' }, 'bob'), 403, 'FORBIDDEN', 'bob');
      expectError(await extend(g, { duration: '5m' }, 'carol'), 403, 'FORBIDDEN', 'carol');
      expectError(await extend(g, { duration: '5m' }, 'mallory'), 404, 'NOT_FOUND', 'mallory');
      assert.deepEqual(await snapshot(srv), before);
    });

    it('a released grant cannot be extended: CONFLICT', async () => {
      const g = await selfExtend();
      expectOk(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`), 200);
      expectError(await extend(g, { duration: '5m' }), 409, 'CONFLICT');
    });

    it('an expired grant cannot be extended and issues no credentials; the expiry is audited', async () => {
      const g = await activeHostShell(srv, { profile: 'self-extend', duration: '2s' });
      assert.equal(Date.parse(g.ends_at!) - Date.parse(g.activated_at!), 2000);
      await sleep(Math.max(0, Date.parse(g.ends_at!) - Date.now()) + 50);
      expectError(await extend(g, { duration: '5m' }), 409, 'CONFLICT', 'extend');
      expectError(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: sshPublicKey() }), 409, 'CONFLICT', 'credentials');
      await waitFor(async () => (await getGrant(srv, g.id)).state === 'expired', 5000, 'the worker to expire the grant');
      const after = await getGrant(srv, g.id);
      assert.equal(after.extensions, 0);
      assert.equal(after.ends_at, g.ends_at);
      const expired = await auditEvents(srv, `grant=${g.id}&action=grant.expired`);
      assert.equal(expired.length, 1);
      assert.equal(expired[0]!.actor, 'system:expiry');
    });

    for (const duration of ['0s', '-5m', '2 hours', '1e9h', '1.5h', '', 'forever']) {
      it(`an extension of ${JSON.stringify(duration)} is INVALID_INPUT`, async () => {
        const g = await selfExtend();
        expectError(await extend(g, { duration }), 400, 'INVALID_INPUT');
        assert.equal((await getGrant(srv, g.id)).extensions, 0);
      });
    }

    it('an extension without a duration, with a numeric duration or with an unknown field is INVALID_INPUT', async () => {
      const g = await selfExtend();
      expectError(await extend(g, {}), 400, 'INVALID_INPUT', 'missing');
      expectError(await extend(g, { duration: 300 }), 400, 'INVALID_INPUT', 'number');
      expectError(await extend(g, { duration: '5m', ends_at: '2099-01-01T00:00:00Z' }), 400, 'INVALID_INPUT', 'unknown field');
      assert.equal((await getGrant(srv, g.id)).extensions, 0);
    });

    it('parallel extensions never exceed max_times', async () => {
      const g = await selfExtend();
      const results = await Promise.all(Array.from({ length: 5 }, () => extend(g, { duration: '5m' })));
      assert.equal(results.filter((r) => r.status === 200).length, 2, results.map((r) => `${r.status} ${r.text.slice(0, 100)}`).join('\n'));
      for (const r of results.filter((x) => x.status !== 200)) {
        const code = (r.body as unknown as { error?: { code?: string } }).error?.code ?? '';
        assert.ok(['POLICY_DENIED', 'CONFLICT'].includes(code), r.text);
        expectError(r, r.status, code);
      }
      const after = await getGrant(srv, g.id);
      assert.equal(after.extensions, 2);
      assert.equal(Date.parse(after.ends_at!) - Date.parse(g.ends_at!), 10 * 60 * 1000);
    });

    it('extending without a valid token is UNAUTHENTICATED', async () => {
      const g = await selfExtend();
      await expectUnauthenticated(srv, 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '5m' });
      assert.equal((await getGrant(srv, g.id)).extensions, 0);
    });
  });

  describe('POST /api/v1/grants/:id/extend (extend.approval: same — an approver must agree)', () => {
    it('an extension is a pending request (202) until an approver approves it, then the grant is extended', async () => {
      const g = await activeHostShell(srv);
      const res = await srv.api<Extended>('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '20m', reason: 'migration is slow' });
      const pending = expectOk<Extended>(res, 202);
      assert.equal(pending.request.kind, 'extension');
      assert.equal(pending.request.state, 'pending');
      assert.equal(pending.request.extends_grant_id, g.id);
      assert.equal(pending.request.duration_seconds, 20 * 60);
      assert.equal((await getGrant(srv, g.id)).ends_at, g.ends_at, 'nothing moves before approval');
      const out = expectOk<Outcome>(await srv.api('bob', 'POST', `/api/v1/requests/${pending.request.id}/approve`, { comment: 'ok' }), 200);
      assert.equal(out.request.state, 'approved');
      const after = await getGrant(srv, g.id);
      assert.equal(after.extensions, 1);
      assert.equal(Date.parse(after.ends_at!) - Date.parse(g.ends_at!), 20 * 60 * 1000);
      const extended = await auditEvents(srv, `grant=${g.id}&action=grant.extended`);
      assert.equal(extended.length, 1);
    });

    it('the grantee cannot approve her own extension: POLICY_DENIED', async () => {
      const g = await activeHostShell(srv);
      const pending = expectOk<Extended>(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '5m' }), 202);
      expectError(await srv.api('alice', 'POST', `/api/v1/requests/${pending.request.id}/approve`, {}), 403, 'POLICY_DENIED');
      assert.equal((await getGrant(srv, g.id)).extensions, 0);
    });

    it('a second extension while one is pending is a CONFLICT', async () => {
      const g = await activeHostShell(srv);
      expectOk(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '5m' }), 202);
      expectError(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '5m' }), 409, 'CONFLICT');
    });

    it('a denied extension leaves the grant as it was', async () => {
      const g = await activeHostShell(srv);
      const pending = expectOk<Extended>(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '5m' }), 202);
      expectOk(await srv.api('bob', 'POST', `/api/v1/requests/${pending.request.id}/deny`, { comment: 'wrap up' }), 200);
      const after = await getGrant(srv, g.id);
      assert.equal(after.extensions, 0);
      assert.equal(after.ends_at, g.ends_at);
    });

    it('an extension approved after its grant ended is a CONFLICT and extends nothing', async () => {
      const g = await activeHostShell(srv);
      const pending = expectOk<Extended>(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '5m' }), 202);
      expectOk(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`), 200);
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${pending.request.id}/approve`, {}), 409, 'CONFLICT');
      assert.equal((await getGrant(srv, g.id)).state, 'released');
    });

    it('limits are checked when the extension is asked for: beyond max_total is POLICY_DENIED with nothing pending', async () => {
      const g = await activeHostShell(srv);
      const before = await snapshot(srv);
      expectError(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '2h' }), 403, 'POLICY_DENIED');
      assert.deepEqual(await snapshot(srv), before);
    });
  });

  describe('POST /api/v1/grants/:id/release', () => {
    it('the grantee releases her grant: it ends at once as released and she may request again', async () => {
      const g = await activeHostShell(srv);
      const out = expectOk<{ grant: Grant }>(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`), 200);
      assert.equal(out.grant.state, 'released');
      assert.equal(out.grant.ended_by, email('alice'));
      assert.ok(out.grant.ended_at);
      const events = await auditEvents(srv, `grant=${g.id}&action=grant.released`);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor, email('alice'));
      await activeHostShell(srv);
    });

    it('releasing with an empty JSON object works', async () => {
      const g = await activeHostShell(srv);
      expectOk(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`, {}), 200);
    });

    it('releasing twice is a CONFLICT', async () => {
      const g = await activeHostShell(srv);
      expectOk(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`), 200);
      expectError(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`), 409, 'CONFLICT');
      assert.equal((await getGrant(srv, g.id)).state, 'released');
    });

    it('someone other than the grantee cannot release: FORBIDDEN for approvers and admins, NOT_FOUND for a stranger', async () => {
      const g = await activeHostShell(srv);
      const before = await snapshot(srv);
      expectError(await srv.api('bob', 'POST', `/api/v1/grants/${g.id}/release`), 403, 'FORBIDDEN', 'bob');
      expectError(await srv.api('carol', 'POST', `/api/v1/grants/${g.id}/release`), 403, 'FORBIDDEN', 'carol');
      expectError(await srv.api('mallory', 'POST', `/api/v1/grants/${g.id}/release`), 404, 'NOT_FOUND', 'mallory');
      assert.deepEqual(await snapshot(srv), before);
    });

    it('a release body with fields is INVALID_INPUT', async () => {
      const g = await activeHostShell(srv);
      expectError(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`, { reason: 'done' }), 400, 'INVALID_INPUT');
      assert.equal((await getGrant(srv, g.id)).state, 'active');
    });

    it('releasing without a valid token is UNAUTHENTICATED', async () => {
      const g = await activeHostShell(srv);
      await expectUnauthenticated(srv, 'POST', `/api/v1/grants/${g.id}/release`);
      assert.equal((await getGrant(srv, g.id)).state, 'active');
    });
  });

  describe('POST /api/v1/grants/:id/revoke', () => {
    it('the grantee cannot revoke her own grant: FORBIDDEN (she releases it), nothing changes', async () => {
      const g = await activeHostShell(srv);
      const before = await snapshot(srv);
      const e = expectError(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'me' }), 403, 'FORBIDDEN');
      assert.match(e.message, /release/);
      assert.deepEqual(await snapshot(srv), before);
    });

    for (const who of ['bob', 'carol'] as const) {
      it(`${who} (${who === 'bob' ? 'an approver' : 'an admin'}) revokes: the grant ends revoked with the reason recorded`, async () => {
        const g = await activeHostShell(srv);
        const out = expectOk<{ grant: Grant }>(await srv.api(who, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'suspicious activity' }), 200);
        assert.equal(out.grant.state, 'revoked');
        assert.equal(out.grant.end_reason, 'suspicious activity');
        assert.equal(out.grant.ended_by, email(who));
        assert.ok(out.grant.ended_at);
        const events = await auditEvents(srv, `grant=${g.id}&action=grant.revoked`);
        assert.equal(events.length, 1);
        assert.equal(events[0]!.actor, email(who));
        assert.equal(events[0]!.reason, 'suspicious activity');
        assert.equal(events[0]!.subject, email('alice'));
      });
    }

    it("a revoked grant's certificate is on the published KRL, an active one's is not", async () => {
      const g = await activeHostShell(srv);
      const c = await creds(g);
      assert.equal(await krlRevokes(c.credentials.certificate), false);
      expectOk(await srv.api('bob', 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'rotate' }), 200);
      assert.equal(await krlRevokes(c.credentials.certificate), true);
    });

    it('revoking twice, or revoking a released grant, is a CONFLICT', async () => {
      const g = await activeHostShell(srv);
      expectOk(await srv.api('bob', 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'one' }), 200);
      expectError(await srv.api('carol', 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'two' }), 409, 'CONFLICT', 'twice');
      assert.equal((await getGrant(srv, g.id)).end_reason, 'one');
      const h = await activeHostShell(srv);
      expectOk(await srv.api('alice', 'POST', `/api/v1/grants/${h.id}/release`), 200);
      expectError(await srv.api('bob', 'POST', `/api/v1/grants/${h.id}/revoke`, { reason: 'late' }), 409, 'CONFLICT', 'released');
      assert.equal((await getGrant(srv, h.id)).state, 'released');
    });

    it('a user who is neither approver nor admin gets NOT_FOUND', async () => {
      const g = await activeHostShell(srv);
      const before = await snapshot(srv);
      expectError(await srv.api('mallory', 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'x' }), 404, 'NOT_FOUND', 'mallory');
      expectError(await srv.api('dave', 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'x' }), 404, 'NOT_FOUND', 'dave');
      assert.deepEqual(await snapshot(srv), before);
    });

    for (const [what, body] of [
      ['no reason', {}],
      ['a blank reason', { reason: '   ' }],
      ['a reason over 2000 characters', { reason: 'x'.repeat(2001) }],
      ['a numeric reason', { reason: 1 }],
      ['an unknown field', { reason: 'x', notify: false }],
    ] as const) {
      it(`a revoke with ${what} is INVALID_INPUT and changes nothing`, async () => {
        const g = await activeHostShell(srv);
        const before = await snapshot(srv);
        expectError(await srv.api('bob', 'POST', `/api/v1/grants/${g.id}/revoke`, body), 400, 'INVALID_INPUT');
        assert.deepEqual(await snapshot(srv), before);
      });
    }

    it('a parallel release and revoke end the grant exactly once', async () => {
      const g = await activeHostShell(srv);
      const [rel, rev] = await Promise.all([
        srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`),
        srv.api('bob', 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'race' }),
      ]);
      const statuses = [rel.status, rev.status].sort();
      assert.deepEqual(statuses, [200, 409], `${rel.text}\n${rev.text}`);
      const ended = await auditEvents(srv, `grant=${g.id}`);
      assert.equal(ended.filter((e) => e.action === 'grant.released' || e.action === 'grant.revoked').length, 1);
    });

    it('revoking without a valid token is UNAUTHENTICATED', async () => {
      const g = await activeHostShell(srv);
      await expectUnauthenticated(srv, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'x' });
      assert.equal((await getGrant(srv, g.id)).state, 'active');
    });
  });
});
