/**
 * /api/v1/me, /api/v1/profiles, /api/v1/profiles/:name/explain and /api/v1/tokens:
 * happy paths, bad input, and security (tokens, admin-only parts).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeyshift, USERS } from '../harness/keyshift.ts';
import type { TestServer } from '../harness/keyshift.ts';
import type { AuditEvent } from '../../src/core/model.ts';
import { auditEvents, email, expectError, expectOk, expectUnauthenticated, sleep, snapshot, type Items } from './helpers.ts';

interface Me {
  email: string;
  groups: string[];
  admin: boolean;
}
interface ProfileView {
  name: string;
  description: string;
  connector: string;
  connector_type: string;
  duration: { default_seconds: number; max_seconds: number };
  requires: string[];
  requesters: string[];
  approval: { rules: Array<{ approvers: string[]; count: number }>; auto_approve: boolean };
  request_ttl_seconds: number;
  break_glass: { allowed: boolean; review_within_seconds: number };
  extend: { max_times: number; max_total_seconds: number } | null;
  can_request: boolean;
  connector_ready: boolean;
}
interface Explain {
  profile: string;
  user: string;
  duration_seconds: number;
  allowed: boolean;
  outcome: string;
  reasons: string[];
  requirements?: string[];
  rules: Array<{ index: number; approvers: string[]; count: number; eligible: string[]; satisfiable?: boolean }>;
  break_glass_allowed: boolean;
}
interface CreatedToken {
  id: string;
  token: string;
  user: string;
  expires_at: string | null;
}

describe('identity and profiles API', () => {
  let srv: TestServer;

  before(async () => {
    srv = await startKeyshift();
  });
  after(async () => {
    await srv?.close();
  });

  describe('GET /api/v1/me', () => {
    it('each user sees their own email, groups and admin flag', async () => {
      for (const [name, u] of Object.entries(USERS)) {
        const me = expectOk<Me>(await srv.api(name as keyof typeof USERS, 'GET', '/api/v1/me'), 200, name);
        assert.equal(me.email, u.email);
        assert.deepEqual([...me.groups].sort(), [...u.groups].sort());
        assert.equal(me.admin, name === 'carol', name);
      }
    });

    it('the response carries no token material', async () => {
      const res = await srv.api('alice', 'GET', '/api/v1/me');
      assert.ok(!res.text.includes(srv.tokens.alice));
      assert.doesNotMatch(res.text, /token|hash/i);
    });

    it('without a valid (present, well-formed, known, unrevoked, unexpired) token it is UNAUTHENTICATED', async () => {
      await expectUnauthenticated(srv, 'GET', '/api/v1/me');
    });

    it('the 401 message does not say which check failed', async () => {
      const messages = new Set<string>();
      for (const token of ['ks_' + 'B'.repeat(43), 'ks_short', 'garbage!']) {
        messages.add(expectError(await srv.api({ token }, 'GET', '/api/v1/me'), 401, 'UNAUTHENTICATED').message);
      }
      assert.equal(messages.size, 1, [...messages].join(' | '));
    });
  });

  describe('GET /api/v1/profiles', () => {
    it('a requester sees the profiles she may request, with their terms', async () => {
      const items = expectOk<Items<ProfileView>>(await srv.api('alice', 'GET', '/api/v1/profiles'), 200).items;
      assert.deepEqual(items.map((p) => p.name).sort(), ['host-shell', 'logs', 'two-team']);
      assert.ok(items.every((p) => p.can_request));
      const hs = items.find((p) => p.name === 'host-shell')!;
      assert.deepEqual(hs.duration, { default_seconds: 900, max_seconds: 3600 });
      assert.deepEqual(hs.requires, ['reason']);
      assert.deepEqual(hs.approval.rules, [{ approvers: ['group:sre-leads'], count: 1 }]);
      assert.equal(hs.approval.auto_approve, false);
      assert.deepEqual(hs.extend, { max_times: 2, max_total_seconds: 7200 });
      assert.deepEqual(hs.break_glass, { allowed: true, review_within_seconds: 86400 });
      assert.equal(hs.connector_type, 'ssh');
      assert.equal(hs.connector_ready, true);
      const logs = items.find((p) => p.name === 'logs')!;
      assert.equal(logs.approval.auto_approve, true);
      assert.equal(logs.extend, null);
    });

    it('a user sees only the profiles she may request', async () => {
      const mallory = expectOk<Items<ProfileView>>(await srv.api('mallory', 'GET', '/api/v1/profiles'), 200).items;
      assert.deepEqual(mallory.map((p) => p.name).sort(), ['logs', 'two-team']);
      const dave = expectOk<Items<ProfileView>>(await srv.api('dave', 'GET', '/api/v1/profiles'), 200).items;
      assert.deepEqual(dave.map((p) => p.name), []);
    });

    it('an admin sees every profile, marked with whether she may request it', async () => {
      const items = expectOk<Items<ProfileView>>(await srv.api('carol', 'GET', '/api/v1/profiles'), 200).items;
      assert.deepEqual(items.map((p) => p.name).sort(), ['host-shell', 'logs', 'two-team']);
      assert.ok(items.every((p) => p.can_request === false));
    });

    it('listing without a valid token is UNAUTHENTICATED', async () => {
      await expectUnauthenticated(srv, 'GET', '/api/v1/profiles');
    });
  });

  describe('GET /api/v1/profiles/:name/explain', () => {
    it('explains to a requester what approval she needs and who can give it', async () => {
      const ex = expectOk<Explain>(await srv.api('alice', 'GET', '/api/v1/profiles/host-shell/explain'), 200);
      assert.equal(ex.profile, 'host-shell');
      assert.equal(ex.user, email('alice'));
      assert.equal(ex.allowed, true);
      assert.equal(ex.outcome, 'needs_approval');
      assert.equal(ex.duration_seconds, 900);
      assert.equal(ex.rules.length, 1);
      const rule = ex.rules[0]!;
      assert.equal(rule.index, 0);
      assert.deepEqual(rule.approvers, ['group:sre-leads']);
      assert.equal(rule.count, 1);
      assert.deepEqual(rule.eligible, [email('bob'), email('erin')]);
      const said = [...ex.reasons, ...(ex.requirements ?? [])];
      assert.ok(said.some((r) => /reason/.test(r)), `the reason requirement is explained: ${said.join('; ')}`);
      assert.equal(ex.break_glass_allowed, true);
    });

    it('the two-team explanation lists both rules and their eligible approvers, never the requester', async () => {
      const ex = expectOk<Explain>(await srv.api('alice', 'GET', '/api/v1/profiles/two-team/explain'), 200);
      assert.equal(ex.rules.length, 2);
      assert.deepEqual(ex.rules[0]!.eligible, [email('dave'), email('erin')]);
      assert.deepEqual(ex.rules[1]!.eligible, [email('carol'), email('erin')]);
    });

    it('a duration above the maximum is explained as not allowed, with the reason', async () => {
      const ex = expectOk<Explain>(await srv.api('alice', 'GET', '/api/v1/profiles/host-shell/explain?duration=2h'), 200);
      assert.equal(ex.allowed, false);
      assert.equal(ex.outcome, 'denied');
      assert.ok(ex.reasons.some((r) => /maximum/.test(r)), ex.reasons.join('; '));
    });

    it('a profile without approval rules is explained as auto-approved', async () => {
      const ex = expectOk<Explain>(await srv.api('mallory', 'GET', '/api/v1/profiles/logs/explain?duration=1h'), 200);
      assert.equal(ex.outcome, 'auto_approve');
      assert.equal(ex.duration_seconds, 3600);
    });

    it('an approver (not a requester) may read the explanation', async () => {
      const ex = expectOk<Explain>(await srv.api('dave', 'GET', '/api/v1/profiles/two-team/explain'), 200);
      assert.equal(ex.user, email('dave'));
      assert.equal(ex.allowed, false);
    });

    it('explaining for yourself with ?user= works, whatever the case of the email', async () => {
      const ex = expectOk<Explain>(await srv.api('alice', 'GET', '/api/v1/profiles/host-shell/explain?user=ALICE@example.com'), 200);
      assert.equal(ex.user, email('alice'));
    });

    it('explaining for another user is FORBIDDEN for non-admins', async () => {
      const e = expectError(await srv.api('alice', 'GET', `/api/v1/profiles/host-shell/explain?user=${email('mallory')}`), 403, 'FORBIDDEN');
      assert.match(e.message, /admin/);
      expectError(await srv.api('bob', 'GET', `/api/v1/profiles/host-shell/explain?user=${email('alice')}`), 403, 'FORBIDDEN', 'an approver');
    });

    it('an admin explains the policy for another user', async () => {
      const ex = expectOk<Explain>(await srv.api('carol', 'GET', `/api/v1/profiles/host-shell/explain?user=${email('mallory')}`), 200);
      assert.equal(ex.user, email('mallory'));
      assert.equal(ex.allowed, false);
      assert.ok(ex.reasons.some((r) => /requesters/.test(r)), ex.reasons.join('; '));
      const forAlice = expectOk<Explain>(await srv.api('carol', 'GET', `/api/v1/profiles/host-shell/explain?user=${email('alice')}`), 200);
      assert.equal(forAlice.allowed, true);
    });

    it('an admin explaining for a user who is not in the directory gets INVALID_INPUT', async () => {
      expectError(await srv.api('carol', 'GET', '/api/v1/profiles/host-shell/explain?user=nobody@example.com'), 400, 'INVALID_INPUT');
    });

    it('an unknown profile, or one that is neither yours to request nor to approve, is NOT_FOUND', async () => {
      const unknown = expectError(await srv.api('alice', 'GET', '/api/v1/profiles/no-such/explain'), 404, 'NOT_FOUND', 'unknown');
      const hidden = expectError(await srv.api('mallory', 'GET', '/api/v1/profiles/host-shell/explain'), 404, 'NOT_FOUND', 'mallory');
      expectError(await srv.api('dave', 'GET', '/api/v1/profiles/host-shell/explain'), 404, 'NOT_FOUND', 'dave');
      assert.equal(unknown.message.replace('no-such', 'P'), hidden.message.replace('host-shell', 'P'));
    });

    for (const q of ['duration=2%20hours', 'duration=0s', 'duration=-5m', 'duration=1.5h', 'verbose=true']) {
      it(`?${q} is INVALID_INPUT`, async () => {
        expectError(await srv.api('alice', 'GET', `/api/v1/profiles/host-shell/explain?${q}`), 400, 'INVALID_INPUT');
      });
    }

    it('explaining changes nothing', async () => {
      const before = await snapshot(srv);
      await srv.api('alice', 'GET', '/api/v1/profiles/host-shell/explain');
      await srv.api('carol', 'GET', `/api/v1/profiles/two-team/explain?user=${email('alice')}`);
      assert.deepEqual(await snapshot(srv), before);
    });

    it('explaining without a valid token is UNAUTHENTICATED', async () => {
      await expectUnauthenticated(srv, 'GET', '/api/v1/profiles/host-shell/explain');
    });
  });

  describe('POST /api/v1/tokens', () => {
    it('an admin creates a token for a user; it works as that user and the creation is audited', async () => {
      const created = expectOk<CreatedToken>(await srv.api('carol', 'POST', '/api/v1/tokens', { user: email('dave'), ttl: '1h', label: 'laptop' }), 201);
      assert.match(created.token, /^ks_[A-Za-z0-9_-]{43}$/);
      assert.match(created.id, /^tok_/);
      assert.equal(created.user, email('dave'));
      assert.ok(created.expires_at);
      const ttl = Date.parse(created.expires_at) - Date.now();
      assert.ok(ttl > 3590_000 && ttl <= 3600_000, String(ttl));
      const me = expectOk<Me>(await srv.api({ token: created.token }, 'GET', '/api/v1/me'), 200);
      assert.equal(me.email, email('dave'));
      const events = (await auditEvents(srv, 'action=auth.token_created')).filter((e: AuditEvent) => e.details['token_id'] === created.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor, email('carol'));
      assert.equal(events[0]!.subject, email('dave'));
      assert.ok(!JSON.stringify(events[0]).includes(created.token), 'the token itself is not audited');
    });

    it('a token without a ttl lasts 30 days', async () => {
      const created = expectOk<CreatedToken>(await srv.api('carol', 'POST', '/api/v1/tokens', { user: email('alice') }), 201);
      const ttl = Date.parse(created.expires_at!) - Date.now();
      assert.ok(Math.abs(ttl - 30 * 86400_000) < 10_000, String(ttl));
    });

    it('a token stops working once its ttl has passed', async () => {
      const created = expectOk<CreatedToken>(await srv.api('carol', 'POST', '/api/v1/tokens', { user: email('alice'), ttl: '1s' }), 201);
      expectOk(await srv.api({ token: created.token }, 'GET', '/api/v1/me'), 200, 'before expiry');
      await sleep(Math.max(0, Date.parse(created.expires_at!) - Date.now()) + 50);
      expectError(await srv.api({ token: created.token }, 'GET', '/api/v1/me'), 401, 'UNAUTHENTICATED', 'after expiry');
    });

    it('creating tokens is FORBIDDEN for non-admins, for themselves or anyone else, and creates nothing', async () => {
      const before = await snapshot(srv);
      for (const who of ['alice', 'bob', 'erin', 'mallory'] as const) {
        expectError(await srv.api(who, 'POST', '/api/v1/tokens', { user: email('carol') }), 403, 'FORBIDDEN', `${who} for carol`);
        expectError(await srv.api(who, 'POST', '/api/v1/tokens', { user: email(who) }), 403, 'FORBIDDEN', `${who} for self`);
      }
      assert.deepEqual(await snapshot(srv), before);
    });

    for (const [what, body] of [
      ['a user not in the directory', { user: 'nobody@example.com' }],
      ['no user', { ttl: '1h' }],
      ['a garbage ttl', { user: 'alice@example.com', ttl: '2 hours' }],
      ['a zero ttl', { user: 'alice@example.com', ttl: '0s' }],
      ['a ttl over a year', { user: 'alice@example.com', ttl: '400d' }],
      ['a numeric ttl', { user: 'alice@example.com', ttl: 3600 }],
      ['an unknown field', { user: 'alice@example.com', admin: true }],
      ['a label over 200 characters', { user: 'alice@example.com', label: 'x'.repeat(201) }],
    ] as const) {
      it(`a token request with ${what} is INVALID_INPUT and creates nothing`, async () => {
        const before = await snapshot(srv);
        expectError(await srv.api('carol', 'POST', '/api/v1/tokens', body), 400, 'INVALID_INPUT');
        assert.deepEqual(await snapshot(srv), before);
      });
    }

    it('creating a token without a valid token is UNAUTHENTICATED', async () => {
      await expectUnauthenticated(srv, 'POST', '/api/v1/tokens', { user: email('alice') });
    });
  });
});
