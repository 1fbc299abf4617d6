/**
 * Requirements checked through the ticket and incident ports (format, exists, open)
 * before anything is created, and grants ended when their incident resolves or ticket
 * closes (`end_on`). The sources are in-memory fakes typed against the ports.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeyshift } from '../harness/keyshift.ts';
import type { TestServer } from '../harness/keyshift.ts';
import { createFakeReferenceSource } from '../fakes/reference-sources.ts';
import type { AccessRequest, Grant } from '../../src/core/model.ts';

const profiles = {
  'ticketed-shell': {
    connector: 'hosts',
    access: { principals: ['oncall'] },
    duration: { default: '30m', max: '1h' },
    requesters: ['group:engineering'],
    requires: ['reason', 'ticket', 'incident'],
    ticket: { pattern: '^OPS-\\d+$' },
    incident: { pattern: '^INC-\\d+$' },
    end_on: ['incident_resolved', 'ticket_closed'],
  },
  'plain-shell': {
    connector: 'hosts',
    access: { principals: ['oncall'] },
    duration: { default: '30m', max: '1h' },
    requesters: ['group:engineering'],
    requires: ['incident'],
  },
};

type Outcome = { request: AccessRequest; grant: Grant | null };
type ErrorBody = { error: { code: string; message: string } };

describe('ticket and incident sources', () => {
  let srv: TestServer;
  const tickets = createFakeReferenceSource({ 'OPS-1': 'open', 'OPS-2': 'closed', 'OPS-3': 'open' });
  const incidents = createFakeReferenceSource({ 'INC-1': 'open', 'INC-2': 'closed', 'INC-3': 'open' });

  before(async () => {
    srv = await startKeyshift({ profiles });
    srv.ks.deps.tickets = tickets.source;
    srv.ks.deps.incidents = incidents.source;
  });
  after(async () => {
    await srv?.close();
  });

  const ask = (ticket: string, incident: string, profile = 'ticketed-shell') =>
    srv.api<Outcome | ErrorBody>('alice', 'POST', '/api/v1/requests', { profile, duration: '10m', reason: 'disk full', ticket, incident });

  it('a closed ticket is refused before anything is created, naming the ticket', async () => {
    const head = (await srv.ks.store.read.auditHeadRow()).seq;
    const res = await ask('OPS-2', 'INC-1');
    assert.equal(res.status, 403);
    assert.match((res.body as ErrorBody).error.message, /ticket OPS-2 is closed/);
    assert.equal((await srv.ks.store.read.auditHeadRow()).seq, head, 'nothing was recorded');
  });

  it('a resolved incident and an unknown one are refused', async () => {
    assert.match(((await ask('OPS-1', 'INC-2')).body as ErrorBody).error.message, /incident INC-2 is resolved/);
    assert.match(((await ask('OPS-1', 'INC-404')).body as ErrorBody).error.message, /incident INC-404 was not found/);
  });

  it('a reference in the wrong format is refused without asking the source', async () => {
    const before = tickets.calls;
    const res = await ask('JIRA-1', 'INC-1');
    assert.equal(res.status, 403);
    assert.match((res.body as ErrorBody).error.message, /does not match \^OPS-/);
    // The format check comes first in the decision; the source may still have been asked
    // for the incident, but never for a malformed ticket.
    assert.ok(tickets.calls <= before + 1);
  });

  it('an open ticket and incident are accepted, and the grant ends when the incident resolves', async () => {
    const res = await ask('OPS-1', 'INC-1');
    assert.equal(res.status, 201);
    const grant = (res.body as Outcome).grant!;
    assert.equal(grant.state, 'active');
    // Another profile without end_on keeps its grant when the incident resolves.
    const other = await srv.api<Outcome>('alice', 'POST', '/api/v1/requests', { profile: 'plain-shell', duration: '10m', incident: 'INC-1' });
    assert.equal(other.status, 201);
    incidents.set('INC-1', 'closed');
    const ended = await srv.ks.services.grants.endFor({ incident: 'INC-1' }, 'system:pagerduty');
    assert.deepEqual(ended.map((g) => g.id), [grant.id]);
    const after = await srv.api<Grant>('alice', 'GET', `/api/v1/grants/${grant.id}`);
    assert.equal(after.body.state, 'revoked');
    assert.equal(after.body.end_reason, 'incident INC-1 resolved');
    const kept = await srv.api<Grant>('alice', 'GET', `/api/v1/grants/${other.body.grant!.id}`);
    assert.equal(kept.body.state, 'active');
  });

  it('a grant ends when its ticket closes', async () => {
    const res = await ask('OPS-3', 'INC-3');
    assert.equal(res.status, 201);
    const ended = await srv.ks.services.grants.endFor({ ticket: 'OPS-3' }, 'system:jira');
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.state, 'revoked');
    const events = await srv.api<{ items: Array<{ action: string; actor: string; reason: string }> }>('carol', 'GET', `/api/v1/audit?grant=${ended[0]!.id}`);
    const revoked = events.body.items.find((e) => e.action === 'grant.revoked')!;
    assert.equal(revoked.actor, 'system:jira');
    assert.equal(revoked.reason, 'ticket OPS-3 closed');
  });

  it('a source that cannot answer makes the request fail as retryable, creating nothing', async () => {
    const down = createFakeReferenceSource({}, { failing: true });
    srv.ks.deps.tickets = down.source;
    try {
      const res = await ask('OPS-1', 'INC-3');
      assert.equal(res.status, 503);
      assert.equal((res.body as ErrorBody).error.code, 'CONNECTOR_UNAVAILABLE');
    } finally {
      srv.ks.deps.tickets = tickets.source;
    }
  });
});
