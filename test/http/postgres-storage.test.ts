/**
 * The HTTP API on PostgreSQL storage: one compact end-to-end flow and the approval race,
 * against the machine's PostgreSQL. A server that is not running fails with the harness's
 * message (how to start it); it is never skipped.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeyshift } from '../harness/keyshift.ts';
import type { TestServer } from '../harness/keyshift.ts';
import type { AccessRequest, AuditEvent, Grant } from '../../src/core/model.ts';
import { auditEvents, email, expectError, expectOk, pendingHostShell, pendingTwoTeam, removeKeys, reset, sshPublicKey, type Items, type Outcome } from './helpers.ts';

describe('HTTP API on PostgreSQL storage', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startKeyshift({ storage: 'postgres' });
  });
  after(async () => {
    await srv?.close();
    removeKeys();
  });

  it('the server runs on PostgreSQL', () => {
    assert.equal(srv.ks.store.kind, 'postgres');
  });

  it('request → approve → grant → credentials → release leaves a verified audit chain', async () => {
    const start = (await srv.ks.store.read.auditHeadRow()).seq;
    const r = await pendingHostShell(srv);
    expectError(await srv.api('mallory', 'GET', `/api/v1/requests/${r.id}`), 404, 'NOT_FOUND', 'mallory');
    const approved = expectOk<Outcome>(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, { comment: 'ok' }), 200);
    const g = approved.grant!;
    assert.equal(g.state, 'active');
    const got = expectOk<Grant>(await srv.api('alice', 'GET', `/api/v1/grants/${g.id}`), 200);
    assert.equal(got.ends_at, g.ends_at);
    assert.match(got.ends_at!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'times keep ISO-8601 with milliseconds on PostgreSQL');
    const creds = expectOk<{ kind: string; credentials: { certificate: string } }>(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: sshPublicKey() }), 200);
    assert.equal(creds.kind, 'ssh_certificate');
    assert.match(creds.credentials.certificate, /^ssh-ed25519-cert-v01@openssh\.com /);
    expectError(await srv.api('bob', 'POST', `/api/v1/grants/${g.id}/credentials`, { public_key: sshPublicKey() }), 403, 'FORBIDDEN', 'bob');
    const released = expectOk<{ grant: Grant }>(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`), 200);
    assert.equal(released.grant.state, 'released');

    const events = (await auditEvents(srv)).filter((e: AuditEvent) => e.seq > start);
    assert.deepEqual(events.map((e) => [e.action, e.actor]), [
      ['request.created', email('alice')],
      ['request.approved', email('bob')],
      ['grant.activated', 'system:activator'],
      ['grant.credentials_issued', email('alice')],
      ['grant.released', email('alice')],
    ]);
    const csv = await srv.api('carol', 'GET', `/api/v1/audit?format=csv&grant=${g.id}`);
    assert.equal(csv.text.trimEnd().split('\r\n').length, 1 + 3, 'header and the three grant events (activated, credentials, released)');
    const verify = expectOk<{ ok: boolean; checked: number }>(await srv.api('alice', 'GET', '/api/v1/audit/verify'), 200);
    assert.equal(verify.ok, true);
    assert.equal(verify.checked, (await srv.ks.store.read.auditHeadRow()).seq);
  });

  it('ten parallel approvals by the two eligible approvers approve once and make one grant', async () => {
    const r = await pendingHostShell(srv);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => srv.api<Outcome>(i % 2 ? 'bob' : 'erin', 'POST', `/api/v1/requests/${r.id}/approve`, {})));
    assert.equal(results.filter((x) => x.status === 200).length, 1, results.map((x) => `${x.status} ${x.text.slice(0, 100)}`).join('\n'));
    for (const x of results.filter((y) => y.status !== 200)) expectError(x, 409, 'CONFLICT');
    const grants = expectOk<Items<Grant>>(await srv.api('carol', 'GET', `/api/v1/grants?all=true&user=${email('alice')}`), 200).items.filter((g) => g.request_id === r.id);
    assert.equal(grants.length, 1);
    await reset(srv);
  });

  it('parallel two-team approvals by dave and carol make exactly one grant', async () => {
    const r = await pendingTwoTeam(srv);
    const results = await Promise.all([
      srv.api<Outcome>('dave', 'POST', `/api/v1/requests/${r.id}/approve`, {}),
      srv.api<Outcome>('carol', 'POST', `/api/v1/requests/${r.id}/approve`, {}),
    ]);
    for (const x of results) assert.equal(x.status, 200, x.text);
    const after = expectOk<AccessRequest>(await srv.api('carol', 'GET', `/api/v1/requests/${r.id}`), 200);
    assert.equal(after.state, 'approved');
    const grants = expectOk<Items<Grant>>(await srv.api('carol', 'GET', `/api/v1/grants?all=true&user=${email('alice')}`), 200).items.filter((g) => g.request_id === r.id);
    assert.equal(grants.length, 1);
    await reset(srv);
  });
});
