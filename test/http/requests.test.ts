/**
 * /api/v1/requests: create, list, read, approve, deny, cancel — happy paths, bad input,
 * and security (tokens, other users' requests, self-approval), plus approval races.
 */
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startKeyshift, DEFAULT_PROFILES, USERS } from '../harness/keyshift.ts';
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
  getRequest,
  pendingHostShell,
  pendingTwoTeam,
  reset,
  sleep,
  snapshot,
  type ApiResult,
  type Items,
  type Outcome,
} from './helpers.ts';

/** Ten more sre-leads, so ten distinct eligible approvers can race on one request. */
const LEADS = Array.from({ length: 10 }, (_, i) => ({ email: `lead${i}@example.com`, groups: ['sre-leads'] }));

const PROFILES: Record<string, unknown> = {
  ...DEFAULT_PROFILES,
  // bob (sre-leads) may both request and approve this one: the self-approval case.
  'lead-shell': {
    description: 'Leads approve each other',
    connector: 'hosts',
    access: { principals: ['lead'] },
    duration: { default: '15m', max: '1h' },
    requesters: ['group:sre-leads'],
    requires: ['reason'],
    approval: { rules: [{ approvers: ['group:sre-leads'], count: 1 }] },
  },
  // Pending requests expire after two seconds.
  'quick-ttl': {
    description: 'Short request TTL',
    connector: 'hosts',
    access: { principals: ['oncall'] },
    duration: { default: '15m', max: '1h' },
    requesters: ['group:sre'],
    approval: { rules: [{ approvers: ['group:sre-leads'], count: 1 }] },
    request_ttl: '2s',
  },
};

const NO_SUCH_REQUEST = 'req_' + '0'.repeat(26);

describe('requests API', () => {
  let srv: TestServer;
  const leadTokens: string[] = [];

  before(async () => {
    srv = await startKeyshift({
      profiles: PROFILES,
      extra: {
        identity: {
          users: [...Object.values(USERS).map((u) => ({ email: u.email, groups: [...u.groups] })), ...LEADS],
          admins: ['group:platform'],
        },
      },
    });
    for (const l of LEADS) leadTokens.push((await srv.ks.services.tokens.create('system:test', l.email, 3600, 'lead')).token);
  });
  after(async () => {
    await srv?.close();
  });
  afterEach(async () => {
    await reset(srv);
  });

  describe('POST /api/v1/requests', () => {
    it('a request for a profile that needs approval is pending, has no grant and says which rule it needs', async () => {
      const out = await createRequest(srv, 'alice', { profile: 'host-shell', duration: '30m', reason: 'disk full on web-3', ticket: 'OPS-7' });
      assert.match(out.request.id, /^req_[0-9A-Z]{26}$/);
      assert.equal(out.request.state, 'pending');
      assert.equal(out.request.requester, email('alice'));
      assert.equal(out.request.duration_seconds, 1800);
      assert.equal(out.request.reason, 'disk full on web-3');
      assert.equal(out.request.ticket, 'OPS-7');
      assert.equal(out.request.grant_id, null);
      assert.deepEqual(out.request.approvals, []);
      assert.ok(out.request.decision_reasons.some((r) => r.includes('group:sre-leads')), out.request.decision_reasons.join('; '));
      assert.equal(out.grant, null);
      const events = await auditEvents(srv, `request=${out.request.id}`);
      assert.deepEqual(events.map((e) => e.action), ['request.created']);
      assert.equal(events[0]!.actor, email('alice'));
    });

    it('the profile default duration applies when none is given', async () => {
      const out = await createRequest(srv, 'alice', { profile: 'host-shell', reason: 'check' });
      assert.equal(out.request.duration_seconds, 15 * 60);
    });

    it('a request for a profile without approval rules is approved and active at once', async () => {
      const before = Date.now();
      const out = await createRequest(srv, 'mallory', { profile: 'logs', duration: '45m' });
      assert.equal(out.request.state, 'approved');
      assert.equal(out.request.decided_by, 'system:policy');
      assert.ok(out.grant);
      assert.equal(out.grant.state, 'active');
      assert.equal(out.grant.grantee, email('mallory'));
      assert.equal(out.request.grant_id, out.grant.id);
      const span = Date.parse(out.grant.ends_at!) - Date.parse(out.grant.activated_at!);
      assert.equal(span, 45 * 60 * 1000);
      assert.ok(Date.parse(out.grant.activated_at!) >= before - 1000);
      const actions = (await auditEvents(srv, `request=${out.request.id}`)).map((e) => e.action);
      assert.deepEqual(actions, ['request.created', 'request.approved', 'grant.activated']);
    });

    it('break-glass with a reason is active at once, opens a review and records break_glass.activated', async () => {
      const out = await createRequest(srv, 'alice', { profile: 'host-shell', duration: '20m', reason: 'site down, no lead answering', break_glass: true });
      assert.equal(out.request.state, 'approved');
      assert.equal(out.request.break_glass, true);
      assert.equal(out.request.decided_by, email('alice'));
      assert.ok(out.grant);
      assert.equal(out.grant.state, 'active');
      assert.equal(out.grant.break_glass, true);
      assert.ok(out.grant.review_due_at, 'a review is due');
      const due = Date.parse(out.grant.review_due_at) - Date.parse(out.grant.created_at);
      assert.equal(due, 24 * 3600 * 1000);
      const events = await auditEvents(srv, `request=${out.request.id}`);
      const bg = events.find((e) => e.action === 'break_glass.activated');
      assert.ok(bg, `actions: ${events.map((e) => e.action).join(', ')}`);
      assert.equal(bg.actor, email('alice'));
      assert.equal(bg.reason, 'site down, no lead answering');
      assert.equal(bg.grant_id, out.grant.id);
      assert.ok(events.some((e) => e.action === 'grant.activated'));
    });

    it('break-glass without a reason is denied by policy and changes nothing', async () => {
      const before = await snapshot(srv);
      const res = await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '20m', break_glass: true });
      const e = expectError(res, 403, 'POLICY_DENIED');
      assert.match(e.message, /reason/);
      assert.deepEqual(await snapshot(srv), before);
    });

    it('break-glass on a profile that does not allow it is denied by policy', async () => {
      const res = await srv.api('mallory', 'POST', '/api/v1/requests', { profile: 'logs', reason: 'why not', break_glass: true });
      const e = expectError(res, 403, 'POLICY_DENIED');
      assert.match(e.message, /break-glass/);
    });

    it('an unknown profile is NOT_FOUND', async () => {
      const e = expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'no-such-profile', reason: 'x' }), 404, 'NOT_FOUND');
      assert.match(e.message, /no-such-profile/);
    });

    it('a duration above the profile maximum is denied by policy and says the maximum', async () => {
      const before = await snapshot(srv);
      const e = expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '2h', reason: 'long job' }), 403, 'POLICY_DENIED');
      assert.match(e.message, /1h/);
      expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '1h1s', reason: 'long job' }), 403, 'POLICY_DENIED');
      assert.deepEqual(await snapshot(srv), before);
    });

    it('a duration exactly at the maximum is allowed', async () => {
      const out = await createRequest(srv, 'alice', { profile: 'host-shell', duration: '1h', reason: 'edge' });
      assert.equal(out.request.duration_seconds, 3600);
    });

    for (const duration of ['0s', '0m', '0h0m', '-5m', '2 hours', '1e9h', '1.5h', '', ' 30m', '30', 'h', '30M', '99999999h', '400d', 'PT1H']) {
      it(`a duration of ${JSON.stringify(duration)} is INVALID_INPUT and changes nothing`, async () => {
        const before = await snapshot(srv);
        const e = expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration, reason: 'x' }), 400, 'INVALID_INPUT');
        assert.match(e.message, /duration/);
        assert.deepEqual(await snapshot(srv), before);
      });
    }

    for (const duration of [3600, null, true, ['1h'], { h: 1 }]) {
      it(`a duration that is not a string (${JSON.stringify(duration)}) is INVALID_INPUT`, async () => {
        expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration, reason: 'x' }), 400, 'INVALID_INPUT');
      });
    }

    it('a missing required reason is denied by policy and names the missing field', async () => {
      const e = expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '30m' }), 403, 'POLICY_DENIED');
      assert.match(e.message, /reason/);
    });

    it('a blank reason is INVALID_INPUT', async () => {
      expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '30m', reason: '   ' }), 400, 'INVALID_INPUT');
    });

    it('a reason longer than 2000 characters is INVALID_INPUT', async () => {
      expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '30m', reason: 'x'.repeat(2001) }), 400, 'INVALID_INPUT');
    });

    it('a two-team request without an incident is denied by policy', async () => {
      const e = expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'two-team', reason: 'fix' }), 403, 'POLICY_DENIED');
      assert.match(e.message, /incident/);
    });

    for (const incident of ['INC 42', "INC-1'; DROP TABLE requests;--", '-INC', 'x'.repeat(101), 'INC\n42']) {
      it(`an incident reference ${JSON.stringify(incident.slice(0, 30))} is INVALID_INPUT`, async () => {
        expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'two-team', reason: 'fix', incident }), 400, 'INVALID_INPUT');
      });
    }

    it('a body without a profile, with an unknown field, or with a non-boolean break_glass is INVALID_INPUT', async () => {
      expectError(await srv.api('alice', 'POST', '/api/v1/requests', { reason: 'x' }), 400, 'INVALID_INPUT', 'no profile');
      const e = expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', reason: 'x', approver: 'alice@example.com' }), 400, 'INVALID_INPUT', 'unknown field');
      assert.match(e.message, /approver/);
      expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', reason: 'x', break_glass: 'yes' }), 400, 'INVALID_INPUT', 'break_glass string');
      expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: '', reason: 'x' }), 400, 'INVALID_INPUT', 'empty profile');
      expectError(await srv.api('alice', 'POST', '/api/v1/requests', []), 400, 'INVALID_INPUT', 'array body');
    });

    it('a request by someone who is not among the requesters is denied by policy and changes nothing', async () => {
      const before = await snapshot(srv);
      const e = expectError(await srv.api('mallory', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '30m', reason: 'curious' }), 403, 'POLICY_DENIED');
      assert.match(e.message, /requesters/);
      expectError(await srv.api('dave', 'POST', '/api/v1/requests', { profile: 'logs' }), 403, 'POLICY_DENIED', 'dave is not in engineering');
      expectError(await srv.api('carol', 'POST', '/api/v1/requests', { profile: 'host-shell', reason: 'admin' }), 403, 'POLICY_DENIED', 'admins are not requesters by default');
      assert.deepEqual(await snapshot(srv), before);
    });

    it('a second request for a profile you already hold becomes an extension request for that grant, never a second grant', async () => {
      const g = await activeHostShell(srv);
      const out = await createRequest(srv, 'alice', { profile: 'host-shell', duration: '10m', reason: 'need more time' });
      assert.equal(out.request.kind, 'extension');
      assert.equal(out.request.extends_grant_id, g.id);
      assert.equal(out.request.state, 'pending');
      const live = expectOk<Items<Grant>>(await srv.api('alice', 'GET', '/api/v1/grants?state=active,activating'), 200).items.filter((x) => x.profile === 'host-shell');
      assert.deepEqual(live.map((x) => x.id), [g.id]);
      // A third one while the extension is pending is a CONFLICT naming it.
      const e = expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '10m', reason: 'again' }), 409, 'CONFLICT');
      assert.ok(e.message.includes(out.request.id), e.message);
    });

    it('break-glass for a profile you already hold is a CONFLICT that names the grant and changes nothing', async () => {
      const g = await activeHostShell(srv);
      const before = await snapshot(srv);
      const e = expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', reason: 'again', break_glass: true }), 409, 'CONFLICT');
      assert.ok(e.message.includes(g.id), e.message);
      assert.deepEqual(await snapshot(srv), before);
    });

    it('a second request for a held profile that allows no extensions is refused and changes nothing', async () => {
      await createRequest(srv, 'mallory', { profile: 'logs', duration: '10m' });
      const before = await snapshot(srv);
      const e = expectError(await srv.api('mallory', 'POST', '/api/v1/requests', { profile: 'logs', duration: '10m' }), 403, 'POLICY_DENIED');
      assert.match(e.message, /extension/);
      assert.deepEqual(await snapshot(srv), before);
    });

    it('a second pending request for the same profile is a CONFLICT', async () => {
      const r = await pendingHostShell(srv);
      const e = expectError(await srv.api('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '30m', reason: 'again' }), 409, 'CONFLICT');
      assert.ok(e.message.includes(r.id), e.message);
    });

    it('parallel requests for the same profile by one user create exactly one', async () => {
      const results = await Promise.all(Array.from({ length: 5 }, () => srv.api<Outcome>('alice', 'POST', '/api/v1/requests', { profile: 'host-shell', duration: '30m', reason: 'race' })));
      assert.equal(results.filter((x) => x.status === 201).length, 1, results.map((x) => x.status).join(','));
      for (const x of results.filter((y) => y.status !== 201)) expectError(x, 409, 'CONFLICT');
      const pending = expectOk<Items<AccessRequest>>(await srv.api('alice', 'GET', '/api/v1/requests?mine=true&state=pending'), 200).items;
      assert.equal(pending.filter((r) => r.profile === 'host-shell').length, 1);
    });

    it('after break-glass, approving the earlier pending request for the same profile is a CONFLICT, not a second grant', async () => {
      const pending = await pendingHostShell(srv);
      const bg = await createRequest(srv, 'alice', { profile: 'host-shell', duration: '30m', reason: 'fire', break_glass: true });
      assert.equal(bg.grant?.state, 'active');
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${pending.id}/approve`, {}), 409, 'CONFLICT');
      const live = expectOk<Items<Grant>>(await srv.api('alice', 'GET', '/api/v1/grants?state=active,activating'), 200).items.filter((g) => g.profile === 'host-shell');
      assert.deepEqual(live.map((g) => g.id), [bg.grant.id]);
      const earlier = await getRequest(srv, pending.id);
      assert.equal(earlier.grant_id, null);
      assert.notEqual(earlier.state, 'approved');
    });

    it('a request without a valid token is UNAUTHENTICATED and creates nothing', async () => {
      await expectUnauthenticated(srv, 'POST', '/api/v1/requests', { profile: 'logs' });
      const requests = expectOk<Items<AccessRequest>>(await srv.api('carol', 'GET', '/api/v1/requests?state=approved'), 200).items;
      assert.ok(!requests.some((r) => r.profile === 'logs' && r.requester === email('alice')));
    });
  });

  describe('GET /api/v1/requests', () => {
    it('mine=true lists only my own requests', async () => {
      const r = await pendingHostShell(srv);
      await createRequest(srv, 'bob', { profile: 'lead-shell', reason: 'mine' });
      const mine = expectOk<Items<AccessRequest>>(await srv.api('alice', 'GET', '/api/v1/requests?mine=true'), 200).items;
      assert.ok(mine.some((x) => x.id === r.id));
      assert.ok(mine.every((x) => x.requester === email('alice')));
    });

    it("to_review=true shows bob alice's pending request and never his own", async () => {
      const alices = await pendingHostShell(srv);
      const bobs = (await createRequest(srv, 'bob', { profile: 'lead-shell', reason: 'need a shell' })).request;
      assert.equal(bobs.state, 'pending');
      const bobView = expectOk<Items<AccessRequest>>(await srv.api('bob', 'GET', '/api/v1/requests?to_review=true'), 200).items;
      assert.ok(bobView.some((x) => x.id === alices.id), 'alice’s request is in bob’s review list');
      assert.ok(!bobView.some((x) => x.id === bobs.id), 'bob’s own request is not in his review list');
      assert.ok(bobView.every((x) => x.requester !== email('bob') && x.state === 'pending'));
      // erin (also sre-leads) reviews bob's.
      const erinView = expectOk<Items<AccessRequest>>(await srv.api('erin', 'GET', '/api/v1/requests?to_review=true'), 200).items;
      assert.ok(erinView.some((x) => x.id === bobs.id));
    });

    it('to_review=true leaves out requests I have already approved and profiles I cannot approve', async () => {
      const r = await pendingTwoTeam(srv);
      expectOk(await srv.api('dave', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 200);
      const daveView = expectOk<Items<AccessRequest>>(await srv.api('dave', 'GET', '/api/v1/requests?to_review=true'), 200).items;
      assert.ok(!daveView.some((x) => x.id === r.id), 'dave already approved');
      const carolView = expectOk<Items<AccessRequest>>(await srv.api('carol', 'GET', '/api/v1/requests?to_review=true'), 200).items;
      assert.ok(carolView.some((x) => x.id === r.id), 'carol (security) still has to');
      const hs = await pendingHostShell(srv);
      assert.ok(!daveView.some((x) => x.id === hs.id));
      const daveAfter = expectOk<Items<AccessRequest>>(await srv.api('dave', 'GET', '/api/v1/requests?to_review=true'), 200).items;
      assert.ok(!daveAfter.some((x) => x.id === hs.id), 'dave is no host-shell approver');
    });

    it("a user who is neither requester nor approver does not see other users' requests in any list", async () => {
      const r = await pendingHostShell(srv);
      for (const q of ['', '?state=pending', '?mine=false', '?to_review=true', '?state=pending,approved,denied,cancelled,expired']) {
        const items = expectOk<Items<AccessRequest>>(await srv.api('mallory', 'GET', `/api/v1/requests${q}`), 200, q).items;
        assert.ok(!items.some((x) => x.id === r.id), `mallory sees alice’s request with ${q || 'no query'}`);
        assert.ok(items.every((x) => x.requester === email('mallory')), q);
      }
    });

    it('state filters by state, and several states may be given', async () => {
      const r = await pendingHostShell(srv);
      const pending = expectOk<Items<AccessRequest>>(await srv.api('alice', 'GET', '/api/v1/requests?state=pending'), 200).items;
      assert.ok(pending.some((x) => x.id === r.id));
      assert.ok(pending.every((x) => x.state === 'pending'));
      const ended = expectOk<Items<AccessRequest>>(await srv.api('alice', 'GET', '/api/v1/requests?state=denied,cancelled'), 200).items;
      assert.ok(!ended.some((x) => x.id === r.id));
      assert.ok(ended.every((x) => x.state === 'denied' || x.state === 'cancelled'));
    });

    for (const q of ['state=bogus', 'state=pending,bogus', 'mine=maybe', 'to_review=yes', 'user=alice@example.com', 'limit=5']) {
      it(`?${q} is INVALID_INPUT`, async () => {
        expectError(await srv.api('alice', 'GET', `/api/v1/requests?${q}`), 400, 'INVALID_INPUT');
      });
    }

    it('listing without a valid token is UNAUTHENTICATED', async () => {
      await expectUnauthenticated(srv, 'GET', '/api/v1/requests');
    });
  });

  describe('GET /api/v1/requests/:id', () => {
    it('the requester, an eligible approver and an admin can read a request', async () => {
      const r = await pendingHostShell(srv);
      for (const who of ['alice', 'bob', 'erin', 'carol'] as const) {
        const got = expectOk<AccessRequest>(await srv.api(who, 'GET', `/api/v1/requests/${r.id}`), 200, who);
        assert.equal(got.id, r.id);
        assert.equal(got.state, 'pending');
      }
    });

    it("another user's request is NOT_FOUND, indistinguishable from one that does not exist", async () => {
      const r = await pendingHostShell(srv);
      const theirs = expectError(await srv.api('mallory', 'GET', `/api/v1/requests/${r.id}`), 404, 'NOT_FOUND', 'mallory');
      expectError(await srv.api('dave', 'GET', `/api/v1/requests/${r.id}`), 404, 'NOT_FOUND', 'dave is no host-shell approver');
      const missing = expectError(await srv.api('mallory', 'GET', `/api/v1/requests/${NO_SUCH_REQUEST}`), 404, 'NOT_FOUND');
      assert.equal(theirs.message.replace(r.id, 'ID'), missing.message.replace(NO_SUCH_REQUEST, 'ID'));
      assert.ok(!theirs.message.includes(email('alice')));
      assert.equal(theirs.details, undefined);
    });

    for (const id of ['req_nope', 'grt_' + '0'.repeat(26), '..%2F..%2Fetc%2Fpasswd', 'req_' + '0'.repeat(26) + '%00', "req_1' OR '1'='1"]) {
      it(`a malformed or foreign id ${JSON.stringify(id.slice(0, 30))} is NOT_FOUND`, async () => {
        expectError(await srv.api('alice', 'GET', `/api/v1/requests/${id}`), 404, 'NOT_FOUND');
      });
    }

    it('reading without a valid token is UNAUTHENTICATED', async () => {
      const r = await pendingHostShell(srv);
      await expectUnauthenticated(srv, 'GET', `/api/v1/requests/${r.id}`);
    });
  });

  describe('POST /api/v1/requests/:id/approve', () => {
    it('an eligible approver approves: the request is approved, the grant is active and the decision is recorded', async () => {
      const r = await pendingHostShell(srv);
      const out = expectOk<Outcome>(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, { comment: 'ok, go' }), 200);
      assert.equal(out.request.state, 'approved');
      assert.equal(out.request.decided_by, email('bob'));
      assert.equal(out.request.decision_comment, 'ok, go');
      assert.deepEqual(out.request.approvals.map((a) => a.approver), [email('bob')]);
      assert.ok(out.request.decision_reasons.length > 0);
      assert.ok(out.grant);
      assert.equal(out.grant.state, 'active');
      assert.equal(out.grant.grantee, email('alice'));
      assert.equal(out.grant.request_id, r.id);
      assert.equal(out.request.grant_id, out.grant.id);
      assert.equal(Date.parse(out.grant.ends_at!) - Date.parse(out.grant.activated_at!), 30 * 60 * 1000);
      const events = await auditEvents(srv, `request=${r.id}`);
      assert.deepEqual(events.map((e) => e.action), ['request.created', 'request.approved', 'grant.activated']);
      assert.equal(events[1]!.actor, email('bob'));
      assert.equal(events[1]!.reason, 'ok, go');
    });

    it('an approval with an empty body works', async () => {
      const r = await pendingHostShell(srv);
      const res = await fetch(`${srv.url}/api/v1/requests/${r.id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${srv.tokens.erin}` } });
      assert.equal(res.status, 200, await res.text());
    });

    it('nobody approves their own request: POLICY_DENIED and nothing changes', async () => {
      const r = (await createRequest(srv, 'bob', { profile: 'lead-shell', reason: 'own' })).request;
      const before = await snapshot(srv);
      const e = expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, { comment: 'me' }), 403, 'POLICY_DENIED');
      assert.match(e.message, /own/);
      assert.deepEqual(await snapshot(srv), before);
      const after = await getRequest(srv, r.id);
      assert.equal(after.state, 'pending');
      assert.deepEqual(after.approvals, []);
    });

    it('approving an approved request is a CONFLICT and adds no second grant', async () => {
      const r = await pendingHostShell(srv);
      expectOk(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 200);
      const before = await snapshot(srv);
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 409, 'CONFLICT', 'bob again');
      expectError(await srv.api('erin', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 409, 'CONFLICT', 'erin after bob');
      assert.deepEqual(await snapshot(srv), before);
    });

    it('the same approver approving a pending two-team request twice is a CONFLICT', async () => {
      const r = await pendingTwoTeam(srv);
      expectOk(await srv.api('dave', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 200);
      const e = expectError(await srv.api('dave', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 409, 'CONFLICT');
      assert.match(e.message, /already approved/);
      assert.equal((await getRequest(srv, r.id)).approvals.length, 1);
    });

    it('approving a denied request is a CONFLICT', async () => {
      const r = await pendingHostShell(srv);
      expectOk(await srv.api('erin', 'POST', `/api/v1/requests/${r.id}/deny`, { comment: 'not now' }), 200);
      const before = await snapshot(srv);
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 409, 'CONFLICT');
      assert.deepEqual(await snapshot(srv), before);
      assert.equal((await getRequest(srv, r.id)).state, 'denied');
    });

    it('approving a cancelled request is a CONFLICT', async () => {
      const r = await pendingHostShell(srv);
      expectOk(await srv.api('alice', 'POST', `/api/v1/requests/${r.id}/cancel`), 200);
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 409, 'CONFLICT');
      assert.equal((await getRequest(srv, r.id)).state, 'cancelled');
    });

    it('a request past its TTL cannot be approved, denied or cancelled, and is recorded as expired', async () => {
      const r = (await createRequest(srv, 'alice', { profile: 'quick-ttl', duration: '10m' })).request;
      assert.equal(Date.parse(r.expires_at) - Date.parse(r.created_at), 2000);
      await sleep(Math.max(0, Date.parse(r.expires_at) - Date.now()) + 200);
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 409, 'CONFLICT', 'approve');
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/deny`, {}), 409, 'CONFLICT', 'deny');
      expectError(await srv.api('alice', 'POST', `/api/v1/requests/${r.id}/cancel`), 409, 'CONFLICT', 'cancel');
      const after = await getRequest(srv, r.id);
      assert.equal(after.state, 'expired');
      assert.equal(after.grant_id, null);
      const actions = (await auditEvents(srv, `request=${r.id}`)).map((e) => e.action);
      assert.deepEqual(actions, ['request.created', 'request.expired']);
    });

    it('an admin who is not an approver for the profile cannot approve: POLICY_DENIED', async () => {
      const r = await pendingHostShell(srv);
      const e = expectError(await srv.api('carol', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 403, 'POLICY_DENIED');
      assert.match(e.message, /not an approver/);
      assert.equal((await getRequest(srv, r.id)).state, 'pending');
    });

    it("approving another user's request you cannot see is NOT_FOUND and changes nothing", async () => {
      const r = await pendingHostShell(srv);
      const before = await snapshot(srv);
      expectError(await srv.api('mallory', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 404, 'NOT_FOUND', 'mallory');
      expectError(await srv.api('dave', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 404, 'NOT_FOUND', 'dave');
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${NO_SUCH_REQUEST}/approve`, {}), 404, 'NOT_FOUND', 'no such request');
      assert.deepEqual(await snapshot(srv), before);
    });

    it('a bad approval body (unknown field, long or non-string comment) is INVALID_INPUT and changes nothing', async () => {
      const r = await pendingHostShell(srv);
      const before = await snapshot(srv);
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, { comment: 'x', as: 'erin@example.com' }), 400, 'INVALID_INPUT', 'unknown field');
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, { comment: 'x'.repeat(2001) }), 400, 'INVALID_INPUT', 'long comment');
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/approve`, { comment: 42 }), 400, 'INVALID_INPUT', 'numeric comment');
      assert.deepEqual(await snapshot(srv), before);
    });

    it('approving without a valid token is UNAUTHENTICATED and changes nothing', async () => {
      const r = await pendingHostShell(srv);
      await expectUnauthenticated(srv, 'POST', `/api/v1/requests/${r.id}/approve`, {});
      assert.equal((await getRequest(srv, r.id)).state, 'pending');
    });

    describe('two approval rules (one dba AND one security, distinct people)', () => {
      it('erin (dba and security) alone cannot satisfy both rules', async () => {
        const r = await pendingTwoTeam(srv);
        const out = expectOk<Outcome>(await srv.api('erin', 'POST', `/api/v1/requests/${r.id}/approve`, { comment: 'as dba and security' }), 200);
        assert.equal(out.request.state, 'pending');
        assert.equal(out.grant, null);
        assert.equal(out.request.approvals.length, 1);
        expectError(await srv.api('erin', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 409, 'CONFLICT', 'erin again');
        assert.equal((await getRequest(srv, r.id)).state, 'pending');
        const actions = (await auditEvents(srv, `request=${r.id}`)).map((e) => e.action);
        assert.deepEqual(actions, ['request.created', 'request.approval_added']);
      });

      it('dave (dba) and carol (security) together approve it', async () => {
        const r = await pendingTwoTeam(srv);
        const first = expectOk<Outcome>(await srv.api('dave', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 200);
        assert.equal(first.request.state, 'pending');
        assert.equal(first.request.approvals[0]!.rule, 0);
        const second = expectOk<Outcome>(await srv.api('carol', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 200);
        assert.equal(second.request.state, 'approved');
        assert.ok(second.grant);
        assert.equal(second.grant.state, 'active');
        assert.deepEqual(second.request.approvals.map((a) => a.approver).sort(), [email('carol'), email('dave')]);
      });

      it('erin then dave approve it: erin is counted for security once dave takes the dba rule', async () => {
        const r = await pendingTwoTeam(srv);
        expectOk(await srv.api('erin', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 200);
        const out = expectOk<Outcome>(await srv.api('dave', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 200);
        assert.equal(out.request.state, 'approved');
        assert.ok(out.grant);
        assert.ok(out.request.decision_reasons.some((x) => x.includes(email('erin'))), out.request.decision_reasons.join('; '));
      });

      it('dave then erin approve it: erin covers security once dave holds the dba rule', async () => {
        const r = await pendingTwoTeam(srv);
        expectOk(await srv.api('dave', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 200);
        const out = expectOk<Outcome>(await srv.api('erin', 'POST', `/api/v1/requests/${r.id}/approve`, {}), 200);
        assert.equal(out.request.state, 'approved');
      });

      it('parallel approvals by dave and carol produce exactly one grant', async () => {
        for (let round = 0; round < 3; round++) {
          const r = await pendingTwoTeam(srv);
          const results = await Promise.all([
            srv.api<Outcome>('dave', 'POST', `/api/v1/requests/${r.id}/approve`, {}),
            srv.api<Outcome>('carol', 'POST', `/api/v1/requests/${r.id}/approve`, {}),
          ]);
          for (const res of results) assert.equal(res.status, 200, res.text);
          const after = await getRequest(srv, r.id);
          assert.equal(after.state, 'approved', `round ${round}`);
          const grants = expectOk<Items<Grant>>(await srv.api('carol', 'GET', `/api/v1/grants?all=true&user=${email('alice')}`), 200).items.filter((g) => g.request_id === r.id);
          assert.equal(grants.length, 1, `round ${round}: one grant`);
          const approvedEvents = (await auditEvents(srv, `request=${r.id}&action=request.approved`)).length;
          assert.equal(approvedEvents, 1, `round ${round}: one request.approved event`);
          await reset(srv);
        }
      });
    });

    it('ten parallel approvals by different eligible approvers: exactly one approves, the rest are CONFLICT, one grant', async () => {
      const r = await pendingHostShell(srv);
      const results: ApiResult<Outcome>[] = await Promise.all(leadTokens.map((token) => srv.api<Outcome>({ token }, 'POST', `/api/v1/requests/${r.id}/approve`, { comment: 'race' })));
      const ok = results.filter((x) => x.status === 200);
      assert.equal(ok.length, 1, results.map((x) => `${x.status} ${x.text.slice(0, 120)}`).join('\n'));
      assert.equal(ok[0]!.body.request.state, 'approved');
      assert.ok(ok[0]!.body.grant);
      for (const x of results.filter((y) => y.status !== 200)) expectError(x, 409, 'CONFLICT');
      const after = await getRequest(srv, r.id);
      assert.equal(after.state, 'approved');
      assert.equal(after.approvals.length, 1);
      const grants = expectOk<Items<Grant>>(await srv.api('carol', 'GET', `/api/v1/grants?all=true&user=${email('alice')}`), 200).items.filter((g) => g.request_id === r.id);
      assert.equal(grants.length, 1);
      const actions = (await auditEvents(srv, `request=${r.id}`)).map((e) => e.action);
      assert.deepEqual(actions, ['request.created', 'request.approved', 'grant.activated']);
    });
  });

  describe('POST /api/v1/requests/:id/deny', () => {
    it('an eligible approver denies with a comment: denied, the reason recorded, no grant', async () => {
      const r = await pendingHostShell(srv);
      const out = expectOk<Outcome>(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/deny`, { comment: 'use the runbook first' }), 200);
      assert.equal(out.request.state, 'denied');
      assert.equal(out.request.decided_by, email('bob'));
      assert.equal(out.grant, null);
      assert.ok(out.request.decision_reasons.some((x) => x.includes('use the runbook first')));
      const events = await auditEvents(srv, `request=${r.id}`);
      assert.deepEqual(events.map((e) => e.action), ['request.created', 'request.denied']);
      assert.equal(events[1]!.reason, 'use the runbook first');
    });

    it('denying a denied request is a CONFLICT', async () => {
      const r = await pendingHostShell(srv);
      expectOk(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/deny`, {}), 200);
      expectError(await srv.api('erin', 'POST', `/api/v1/requests/${r.id}/deny`, {}), 409, 'CONFLICT');
    });

    it('a requester cannot deny their own request: POLICY_DENIED', async () => {
      const r = (await createRequest(srv, 'bob', { profile: 'lead-shell', reason: 'own' })).request;
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/deny`, {}), 403, 'POLICY_DENIED');
      assert.equal((await getRequest(srv, r.id)).state, 'pending');
    });

    it("denying another user's request you cannot see is NOT_FOUND", async () => {
      const r = await pendingHostShell(srv);
      expectError(await srv.api('mallory', 'POST', `/api/v1/requests/${r.id}/deny`, {}), 404, 'NOT_FOUND');
      assert.equal((await getRequest(srv, r.id)).state, 'pending');
    });

    it('an admin who is not an approver cannot deny: POLICY_DENIED', async () => {
      const r = await pendingHostShell(srv);
      expectError(await srv.api('carol', 'POST', `/api/v1/requests/${r.id}/deny`, {}), 403, 'POLICY_DENIED');
    });

    it('a bad deny body is INVALID_INPUT', async () => {
      const r = await pendingHostShell(srv);
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/deny`, { reason: 'wrong field' }), 400, 'INVALID_INPUT');
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/deny`, { comment: 'x'.repeat(2001) }), 400, 'INVALID_INPUT');
      assert.equal((await getRequest(srv, r.id)).state, 'pending');
    });

    it('denying without a valid token is UNAUTHENTICATED', async () => {
      const r = await pendingHostShell(srv);
      await expectUnauthenticated(srv, 'POST', `/api/v1/requests/${r.id}/deny`, {});
    });
  });

  describe('POST /api/v1/requests/:id/cancel', () => {
    it('the requester cancels a pending request', async () => {
      const r = await pendingHostShell(srv);
      const out = expectOk<Outcome>(await srv.api('alice', 'POST', `/api/v1/requests/${r.id}/cancel`), 200);
      assert.equal(out.request.state, 'cancelled');
      assert.equal(out.request.decided_by, email('alice'));
      const actions = (await auditEvents(srv, `request=${r.id}`)).map((e) => e.action);
      assert.deepEqual(actions, ['request.created', 'request.cancelled']);
    });

    it('a cancelled request frees the profile for a new request', async () => {
      const r = await pendingHostShell(srv);
      expectOk(await srv.api('alice', 'POST', `/api/v1/requests/${r.id}/cancel`, {}), 200);
      await pendingHostShell(srv);
    });

    it('an approver cannot cancel someone else’s request: FORBIDDEN, and nothing changes', async () => {
      const r = await pendingHostShell(srv);
      const before = await snapshot(srv);
      expectError(await srv.api('bob', 'POST', `/api/v1/requests/${r.id}/cancel`), 403, 'FORBIDDEN');
      expectError(await srv.api('carol', 'POST', `/api/v1/requests/${r.id}/cancel`), 403, 'FORBIDDEN', 'admin');
      assert.deepEqual(await snapshot(srv), before);
    });

    it('a stranger cancelling someone else’s request gets NOT_FOUND', async () => {
      const r = await pendingHostShell(srv);
      expectError(await srv.api('mallory', 'POST', `/api/v1/requests/${r.id}/cancel`), 404, 'NOT_FOUND');
      assert.equal((await getRequest(srv, r.id)).state, 'pending');
    });

    it('cancelling twice, or cancelling an approved request, is a CONFLICT', async () => {
      const r = await pendingHostShell(srv);
      expectOk(await srv.api('alice', 'POST', `/api/v1/requests/${r.id}/cancel`), 200);
      expectError(await srv.api('alice', 'POST', `/api/v1/requests/${r.id}/cancel`), 409, 'CONFLICT', 'twice');
      const g = await activeHostShell(srv);
      expectError(await srv.api('alice', 'POST', `/api/v1/requests/${g.request_id}/cancel`), 409, 'CONFLICT', 'approved');
      assert.equal((await getRequest(srv, g.request_id)).state, 'approved');
    });

    it('a cancel body with fields is INVALID_INPUT', async () => {
      const r = await pendingHostShell(srv);
      expectError(await srv.api('alice', 'POST', `/api/v1/requests/${r.id}/cancel`, { reason: 'no longer needed' }), 400, 'INVALID_INPUT');
      assert.equal((await getRequest(srv, r.id)).state, 'pending');
    });

    it('cancelling without a valid token is UNAUTHENTICATED', async () => {
      const r = await pendingHostShell(srv);
      await expectUnauthenticated(srv, 'POST', `/api/v1/requests/${r.id}/cancel`);
      assert.equal((await getRequest(srv, r.id)).state, 'pending');
    });
  });
});
