/**
 * One focused test per policy rule and per bad policy input, through the HTTP API (and
 * parseConfig for config problems), on a real server with a ManualClock.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { startKeyshift, USERS } from '../harness/keyshift.ts';
import type { TestServer, UserName } from '../harness/keyshift.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { parseConfig, ConfigError } from '../../src/config/load.ts';
import { tallyApprovals } from '../../src/core/policy-engine.ts';
import type { AccessRequest, AuditEvent, Grant } from '../../src/core/model.ts';
import { DAILY_ONCALL, POLICY_PROFILES, WEEKLY_ONCALL, email } from './fixtures.ts';

interface Outcome {
  request: AccessRequest;
  grant: Grant | null;
}
interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}
type Res<T> = { status: number; body: T; text: string };

const shell = (principals: string[]) => ({ connector: 'hosts', access: { principals } });

const RULE_PROFILES: Record<string, unknown> = {
  ...POLICY_PROFILES,
  // bob and erin are both leads: bob may request it, erin may approve it.
  'lead-shell': {
    ...shell(['lead']),
    duration: { default: '15m', max: '1h' },
    requesters: ['group:sre-leads'],
    approval: { rules: [{ approvers: ['group:sre-leads'], count: 1 }] },
  },
  // The reason must name an incident.
  'incident-shell': {
    ...shell(['oncall']),
    duration: { default: '15m', max: '1h' },
    requesters: ['group:sre'],
    requires: ['reason'],
    reason: { min_length: 10, pattern: '^INC-[0-9]+: ' },
  },
  // No approval; extensions alone, but only after half the grant has run.
  'half-time': {
    ...shell(['logs']),
    duration: { default: '30m', max: '1h' },
    requesters: ['group:engineering'],
    extend: { max_times: 3, max_total: '3h', after_elapsed: '50%', approval: 'none' },
  },
  // Like logs, without end_on: an incident resolving does not end it.
  'plain-logs': {
    ...shell(['logs']),
    duration: { default: '30m', max: '2h' },
    requesters: ['group:engineering'],
  },
};

async function withServer(opts: { clock?: ManualClock; oncall?: unknown }, fn: (srv: TestServer, clock: ManualClock) => Promise<void>): Promise<void> {
  const clock = opts.clock ?? new ManualClock('2026-01-01T20:00:00.000Z');
  const srv = await startKeyshift({ clock, profiles: RULE_PROFILES, extra: { oncall: opts.oncall ?? DAILY_ONCALL } });
  try {
    await fn(srv, clock);
  } finally {
    await srv.close();
  }
}

function ok<T>(res: Res<unknown>, status: number, what: string): T {
  assert.equal(res.status, status, `${what}: expected ${status}, got ${res.status}: ${res.text.slice(0, 600)}`);
  return res.body as T;
}

function refused(res: Res<unknown>, status: number, code: string, what: string): string {
  assert.equal(res.status, status, `${what}: expected ${status} ${code}, got ${res.status}: ${res.text.slice(0, 600)}`);
  const e = (res.body as ErrorBody).error;
  assert.equal(e.code, code, `${what}: ${e.message}`);
  return e.message;
}

const request = (srv: TestServer, as: UserName, body: Record<string, unknown>) => srv.api(as, 'POST', '/api/v1/requests', body);
const decide = (srv: TestServer, as: UserName, id: string, verb: 'approve' | 'deny' | 'cancel') => srv.api(as, 'POST', `/api/v1/requests/${id}/${verb}`, verb === 'cancel' ? {} : { comment: `${as} ${verb}s` });
const audit = async (srv: TestServer, action: string): Promise<AuditEvent[]> => ok<{ items: AuditEvent[] }>(await srv.api('carol', 'GET', `/api/v1/audit?action=${action}`), 200, `audit ${action}`).items;
const preapprove = (srv: TestServer, by: UserName, user: UserName, profile: string, duration = '1h') => srv.api(by, 'POST', '/api/v1/preapprovals', { profile, user: email(user), duration, reason: 'on-call week' });

/** alice holds an active grant of `profile`, approved by bob where approval is needed. */
async function held(srv: TestServer, profile: string, body: Record<string, unknown> = {}): Promise<Grant> {
  let out = ok<Outcome>(await request(srv, 'alice', { profile, duration: '30m', reason: 'paged: disk full on db-1', incident: 'INC-9', ...body }), 201, `alice requests ${profile}`);
  if (out.request.state === 'pending') out = ok<Outcome>(await decide(srv, 'bob', out.request.id, 'approve'), 200, 'bob approves');
  assert.equal(out.grant?.state, 'active', `alice's ${profile} grant is active`);
  return out.grant!;
}

// ---------------------------------------------------------------------------------------

describe('policy config: bad input is named at start-up', () => {
  const config = (extra: Record<string, unknown>, profile: Record<string, unknown> = {}) =>
    stringify({
      identity: { users: Object.values(USERS).map((u) => ({ email: u.email, groups: [...u.groups] })) },
      connectors: { hosts: { type: 'ssh', ca_key_file: 'data/ssh_ca' } },
      profiles: {
        'db-read': {
          ...shell(['oncall']),
          duration: { default: '15m', max: '1h' },
          requesters: ['group:sre'],
          approval: { rules: [{ approvers: ['group:sre-leads'], count: 1 }] },
          ...profile,
        },
      },
      ...extra,
    });
  const problems = (text: string): string[] => {
    try {
      parseConfig(text, '/etc/keyshift.yaml', {});
    } catch (e) {
      assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
      return e.problems;
    }
    assert.fail('the config was accepted');
  };

  it('a profile naming an on-call schedule that is not defined is a config error naming the schedule', () => {
    const p = problems(config({ oncall: DAILY_ONCALL }, { approval: { rules: [{ approvers: ['group:sre-leads'] }], auto_approve: { on_call: { schedule: 'nightly' } } } }));
    assert.equal(p.length, 1, p.join('\n'));
    assert.match(p[0]!, /^\/etc\/keyshift\.yaml:\d+:\d+: profiles\.db-read\.approval\.auto_approve\.on_call\.schedule: no on-call schedule named "nightly" \(defined under oncall\.schedules: primary\)/);
  });

  it('overlapping rotation overrides on one level are a config error with the key path', () => {
    const oncall = {
      schedules: {
        primary: {
          ...DAILY_ONCALL.schedules.primary,
          overrides: [
            { level: 1, user: email('erin'), start: '2026-03-02T09:00', end: '2026-03-03T09:00' },
            { level: 1, user: email('dave'), start: '2026-03-03T08:00', end: '2026-03-04T09:00' },
          ],
        },
      },
    };
    const p = problems(config({ oncall }));
    assert.ok(p.some((x) => /oncall\.schedules\.primary\.overrides\.1: overlaps overrides\.0 on level 1/.test(x)), p.join('\n'));
  });

  it('a rule nobody in the directory can satisfy is a warning that names the rule', () => {
    const loaded = parseConfig(config({}, { approval: { rules: [{ approvers: ['group:sre-leads'], count: 3 }] } }), '/etc/keyshift.yaml', {});
    const w = loaded.warnings.find((x) => x.includes('profiles.db-read.approval.rules.0'));
    assert.ok(w, loaded.warnings.join('\n'));
    assert.match(w, /needs 3 approver\(s\) from group:sre-leads but the directory has 2; no request can be approved/);
  });

  it('a schedule name that matches but a level the schedule lacks is a config error', () => {
    const p = problems(config({ oncall: DAILY_ONCALL }, { approval: { rules: [{ approvers: ['group:sre-leads'] }], auto_approve: { on_call: { schedule: 'primary', levels: [2] } } } }));
    assert.ok(p.some((x) => /schedule primary has 1 level\(s\); there is no level 2/.test(x)), p.join('\n'));
  });
});

describe('approvals: who counts', () => {
  it('the requester cannot approve their own request, and an eligible colleague can', async () => {
    await withServer({}, async (srv) => {
      const r = ok<Outcome>(await request(srv, 'bob', { profile: 'lead-shell', reason: 'rotate certs' }), 201, 'bob requests lead-shell').request;
      assert.equal(r.state, 'pending');
      const msg = refused(await decide(srv, 'bob', r.id, 'approve'), 403, 'POLICY_DENIED', 'bob approves his own');
      assert.match(msg, /cannot approve your own request/);
      assert.equal(ok<AccessRequest>(await srv.api('bob', 'GET', `/api/v1/requests/${r.id}`), 200, 'read').state, 'pending', 'the refused self-approval changed nothing');
      const out = ok<Outcome>(await decide(srv, 'erin', r.id, 'approve'), 200, 'erin approves');
      assert.equal(out.request.state, 'approved');
      assert.deepEqual(out.request.approvals.map((a) => a.approver), [email('erin')]);
    });
  });

  it('an approver who is also the requester does not count toward a rule, whatever their groups', () => {
    const rules = [{ approvers: ['group:sre-leads'], count: 2 }];
    const bob = { email: email('bob'), groups: [...USERS.bob.groups] };
    const erin = { email: email('erin'), groups: [...USERS.erin.groups] };
    const t = tallyApprovals(rules, [bob, erin], email('bob'));
    assert.equal(t.satisfied, false);
    assert.deepEqual(t.rules[0]!.counted, [email('erin')]);
    assert.equal(t.assignment.get(email('bob')), null);
  });

  it('a rule needing two approvers stays pending after one and is approved by a second, distinct one', async () => {
    await withServer({}, async (srv) => {
      const r = ok<Outcome>(await request(srv, 'alice', { profile: 'pair' }), 201, 'alice requests pair').request;
      assert.equal(ok<Outcome>(await decide(srv, 'bob', r.id, 'approve'), 200, 'bob').request.state, 'pending');
      refused(await decide(srv, 'bob', r.id, 'approve'), 409, 'CONFLICT', 'bob again');
      const out = ok<Outcome>(await decide(srv, 'erin', r.id, 'approve'), 200, 'erin');
      assert.equal(out.request.state, 'approved');
      assert.equal(out.grant?.state, 'active');
    });
  });

  it('without allow_overlap one person counts for one rule only: erin alone leaves a two-team request pending', async () => {
    await withServer({}, async (srv) => {
      const r = ok<Outcome>(await request(srv, 'alice', { profile: 'two-team', reason: 'schema fix', incident: 'INC-9' }), 201, 'request').request;
      const out = ok<Outcome>(await decide(srv, 'erin', r.id, 'approve'), 200, 'erin');
      assert.equal(out.request.state, 'pending');
      assert.equal(ok<Outcome>(await decide(srv, 'carol', r.id, 'approve'), 200, 'carol').request.state, 'approved', 'erin is moved to the dba rule, carol takes security');
    });
  });

  it('with allow_overlap: true, erin (dba and security) satisfies both rules alone', async () => {
    await withServer({}, async (srv) => {
      const r = ok<Outcome>(await request(srv, 'alice', { profile: 'overlap' }), 201, 'request').request;
      assert.equal(r.state, 'pending');
      const out = ok<Outcome>(await decide(srv, 'erin', r.id, 'approve'), 200, 'erin');
      assert.equal(out.request.state, 'approved');
      assert.ok(out.request.decision_reasons.includes('all approval rules met'), out.request.decision_reasons.join('\n'));
      assert.equal(out.grant?.state, 'active');
    });
  });

  it('denials_required: 2 — one deny keeps the request pending, the second ends it', async () => {
    await withServer({}, async (srv) => {
      const r = ok<Outcome>(await request(srv, 'alice', { profile: 'two-team', reason: 'schema fix', incident: 'INC-9' }), 201, 'request').request;
      assert.equal(ok<Outcome>(await decide(srv, 'dave', r.id, 'deny'), 200, 'dave denies').request.state, 'pending');
      assert.equal((await audit(srv, 'request.denial_added')).filter((e) => e.request_id === r.id).length, 1);
      const out = ok<Outcome>(await decide(srv, 'carol', r.id, 'deny'), 200, 'carol denies');
      assert.equal(out.request.state, 'denied');
      assert.match(out.request.decision_reasons[0]!, /denied by dave@example\.com, carol@example\.com/);
      assert.equal((await audit(srv, 'request.denied')).filter((e) => e.request_id === r.id).length, 1);
      refused(await decide(srv, 'erin', r.id, 'approve'), 409, 'CONFLICT', 'approve after denial');
    });
  });
});

describe('requirements', () => {
  it('a reason that fails reason.pattern is POLICY_DENIED naming the pattern', async () => {
    await withServer({}, async (srv) => {
      const res = await request(srv, 'alice', { profile: 'incident-shell', reason: 'looking at the disk' });
      const msg = refused(res, 403, 'POLICY_DENIED', 'bad reason');
      assert.match(msg, /the reason must match \^INC-\[0-9\]\+: /);
      assert.deepEqual((res.body as ErrorBody).error.details?.reasons, ['the reason must match ^INC-[0-9]+: ']);
      ok<Outcome>(await request(srv, 'alice', { profile: 'incident-shell', reason: 'INC-42: disk full' }), 201, 'good reason');
    });
  });

  it('a duration above duration.max is POLICY_DENIED naming the maximum', async () => {
    await withServer({}, async (srv) => {
      assert.match(refused(await request(srv, 'alice', { profile: 'host-shell', duration: '2h', reason: 'x' }), 403, 'POLICY_DENIED', 'too long'), /2h is longer than host-shell's maximum of 1h/);
    });
  });
});

describe('pre-approval windows', () => {
  it('bob pre-approves alice for host-shell for 1h: her request is approved at once, "pre-approved by bob"', async () => {
    await withServer({}, async (srv) => {
      ok(await preapprove(srv, 'bob', 'alice', 'host-shell'), 201, 'bob pre-approves alice');
      const out = ok<Outcome>(await request(srv, 'alice', { profile: 'host-shell', reason: 'paged' }), 201, 'alice requests');
      assert.equal(out.request.state, 'approved');
      assert.equal(out.request.decided_by, email('bob'));
      assert.ok(out.request.decision_reasons.some((x) => x.startsWith(`pre-approved by ${email('bob')} until `)), out.request.decision_reasons.join('\n'));
      assert.deepEqual(out.request.approvals.map((a) => [a.approver, a.automatic]), [[email('bob'), true]]);
      assert.equal(out.grant?.state, 'active');
    });
  });

  it('alice cannot pre-approve herself, and mallory (not an approver) cannot pre-approve anyone', async () => {
    await withServer({}, async (srv) => {
      // alice is not an approver of host-shell either; lead-shell lets bob try on himself.
      assert.match(refused(await preapprove(srv, 'bob', 'bob', 'lead-shell'), 403, 'POLICY_DENIED', 'bob for bob'), /cannot pre-approve yourself/);
      assert.match(refused(await preapprove(srv, 'alice', 'alice', 'host-shell'), 403, 'POLICY_DENIED', 'alice for alice'), /not an approver|yourself/);
      assert.match(refused(await preapprove(srv, 'mallory', 'alice', 'host-shell'), 403, 'POLICY_DENIED', 'mallory for alice'), /you are not an approver for host-shell/);
      assert.equal((await audit(srv, 'preapproval.created')).length, 0);
    });
  });

  it('after the window, approval is needed again', async () => {
    await withServer({}, async (srv, clock) => {
      ok(await preapprove(srv, 'bob', 'alice', 'host-shell'), 201, 'pre-approve');
      clock.advance(3600);
      const out = ok<Outcome>(await request(srv, 'alice', { profile: 'host-shell', reason: 'paged' }), 201, 'alice requests after the window');
      assert.equal(out.request.state, 'pending');
      assert.deepEqual(out.request.decision_reasons, ['needs rule 1 (1 of group:sre-leads)']);
    });
  });

  it(
    'two pre-approval windows by the same approver still approve the request',
    async () => {
      await withServer({}, async (srv) => {
        ok(await preapprove(srv, 'bob', 'alice', 'host-shell', '1h'), 201, 'first window');
        ok(await preapprove(srv, 'bob', 'alice', 'host-shell', '2h'), 201, 'second, overlapping window');
        const out = ok<Outcome>(await request(srv, 'alice', { profile: 'host-shell', reason: 'paged' }), 201, 'alice requests');
        assert.equal(out.request.state, 'approved');
      });
    },
  );

  it(
    'one approver counts once however many windows they opened: two windows by bob do not meet "2 of sre-leads"',
    async () => {
      const bob = { email: email('bob'), groups: [...USERS.bob.groups] };
      assert.equal(tallyApprovals([{ approvers: ['group:sre-leads'], count: 2 }], [bob, bob], email('alice')).satisfied, false, 'pure tally');
      await withServer({}, async (srv) => {
        ok(await preapprove(srv, 'bob', 'alice', 'pair', '1h'), 201, 'first window');
        ok(await preapprove(srv, 'bob', 'alice', 'pair', '2h'), 201, 'second window');
        const out = ok<Outcome>(await request(srv, 'alice', { profile: 'pair' }), 201, 'alice requests pair');
        assert.equal(out.request.state, 'pending', 'a second lead (erin) must still approve');
      });
    },
  );

  it(
    'a pre-approval that meets one rule of two counts as that approval: one more approver for the other rule approves the request',
    async () => {
      await withServer({}, async (srv) => {
        ok(await preapprove(srv, 'dave', 'alice', 'two-team'), 201, 'dave (dba) pre-approves');
        const r = ok<Outcome>(await request(srv, 'alice', { profile: 'two-team', reason: 'schema fix', incident: 'INC-9' }), 201, 'request').request;
        assert.equal(r.state, 'pending');
        assert.ok(r.decision_reasons.some((x) => x.includes('count as approvals')), r.decision_reasons.join('\n'));
        const out = ok<Outcome>(await decide(srv, 'carol', r.id, 'approve'), 200, 'carol (security) approves');
        assert.equal(out.request.state, 'approved', `approvals: ${JSON.stringify(out.request.approvals)}`);
      });
    },
  );
});

describe('on-call auto-approval through the built-in rotation', () => {
  // Weekly rotation from 2025-12-29 09:00 UTC: alice has the first week.
  const now = () => new ManualClock('2026-01-02T12:00:00.000Z');

  it('alice (on call) is approved at once with the rotation in decision_reasons and in request.approved; bob needs approval', async () => {
    await withServer({ clock: now(), oncall: WEEKLY_ONCALL }, async (srv) => {
      const a = ok<Outcome>(await request(srv, 'alice', { profile: 'oncall' }), 201, 'alice');
      assert.equal(a.request.state, 'approved');
      assert.equal(a.request.decided_by, 'system:policy');
      const detail = 'alice@example.com is on call for primary (level 1, weekly rotation) until 2026-01-05T09:00:00.000Z';
      assert.ok(a.request.decision_reasons.some((x) => x.startsWith('auto-approved: ') && x.includes(detail)), a.request.decision_reasons.join('\n'));
      const approved = (await audit(srv, 'request.approved')).find((e) => e.request_id === a.request.id);
      assert.ok(approved, 'request.approved event');
      assert.equal(approved.actor, 'system:policy');
      assert.ok((approved.details.reasons as string[]).some((x) => x.includes(detail)), JSON.stringify(approved.details));

      const b = ok<Outcome>(await request(srv, 'bob', { profile: 'oncall' }), 201, 'bob');
      assert.equal(b.request.state, 'pending');
      assert.match(b.request.decision_reasons[0]!, /^not auto-approved: bob@example\.com is not on call for primary at level 1/);
    });
  });

  it('end_on: [shift_end] caps ends_at at the shift end, recorded as capped_by: shift_end', async () => {
    await withServer({ clock: new ManualClock('2026-01-05T08:30:00.000Z'), oncall: WEEKLY_ONCALL }, async (srv) => {
      const g = ok<Outcome>(await request(srv, 'alice', { profile: 'oncall', duration: '1h' }), 201, 'alice').grant!;
      assert.equal(g.ends_at, '2026-01-05T09:00:00.000Z');
      const activated = (await audit(srv, 'grant.activated')).find((e) => e.grant_id === g.id)!;
      assert.equal(activated.details.capped_by, 'shift_end');
      assert.equal(activated.details.ends_at, '2026-01-05T09:00:00.000Z');
    });
  });

  it(
    'an extension of a shift_end grant does not run past the shift end',
    async () => {
      await withServer({ clock: new ManualClock('2026-01-05T08:30:00.000Z'), oncall: WEEKLY_ONCALL }, async (srv, clock) => {
        const g = ok<Outcome>(await request(srv, 'alice', { profile: 'oncall', duration: '1h' }), 201, 'alice').grant!;
        clock.advance(20 * 60);
        const res = await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '1h' });
        const after = ok<Grant>(await srv.api('alice', 'GET', `/api/v1/grants/${g.id}`), 200, 'read');
        assert.ok(after.ends_at! <= '2026-01-05T09:00:00.000Z', `extend → ${res.status}; ends_at ${after.ends_at} is after the 09:00 hand-off`);
      });
    },
  );
});

describe('extensions', () => {
  it('extend.approval: same on a profile needing approval → 202 pending; bob approves → grant extended', async () => {
    await withServer({}, async (srv) => {
      const g = await held(srv, 'host-shell');
      const res = await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '30m', reason: 'still digging' });
      const body = ok<{ request: AccessRequest; grant: Grant | null }>(res, 202, 'extend');
      assert.equal(body.request.kind, 'extension');
      assert.equal(body.request.extends_grant_id, g.id);
      assert.equal(body.request.state, 'pending');
      assert.equal(ok<Grant>(await srv.api('alice', 'GET', `/api/v1/grants/${g.id}`), 200, 'read').ends_at, g.ends_at, 'nothing moves until approved');
      refused(await decide(srv, 'alice', body.request.id, 'approve'), 403, 'POLICY_DENIED', 'alice approves her own extension');
      ok(await decide(srv, 'bob', body.request.id, 'approve'), 200, 'bob approves the extension');
      const after = ok<Grant>(await srv.api('alice', 'GET', `/api/v1/grants/${g.id}`), 200, 'read');
      assert.equal(after.extensions, 1);
      assert.equal(Date.parse(after.ends_at!) - Date.parse(g.ends_at!), 30 * 60_000);
      const extended = (await audit(srv, 'grant.extended')).filter((e) => e.grant_id === g.id);
      assert.equal(extended.length, 1);
      assert.equal(extended[0]!.actor, email('bob'));
    });
  });

  it('after_elapsed: 50% refuses an early extension and allows it past half-time', async () => {
    await withServer({}, async (srv, clock) => {
      const g = await held(srv, 'half-time');
      clock.advance(10 * 60);
      const msg = refused(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '10m' }), 403, 'POLICY_DENIED', 'early');
      assert.match(msg, /can be extended once 50% of it has elapsed \(now 33%\)/);
      clock.advance(5 * 60);
      const ext = ok<{ request: AccessRequest; grant: Grant }>(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '10m' }), 200, 'at half-time');
      assert.equal(ext.grant.extensions, 1);
    });
  });

  it('extend.max_times and extend.max_total are refused by name', async () => {
    await withServer({}, async (srv) => {
      const g = await held(srv, 'logs', { duration: '2h' });
      assert.match(refused(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '90m' }), 403, 'POLICY_DENIED', 'total'), /allows at most 3h in total/);
      ok(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '1h' }), 200, 'first');
      assert.match(refused(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '10m' }), 403, 'POLICY_DENIED', 'times'), /has been extended 1 times?; logs allows 1/);
    });
  });

  it('a new request for a profile alice already holds becomes an extension request for that grant', async () => {
    await withServer({}, async (srv) => {
      const g = await held(srv, 'host-shell');
      const out = ok<Outcome>(await request(srv, 'alice', { profile: 'host-shell', duration: '15m', reason: 'more time' }), 201, 'request again');
      assert.equal(out.request.kind, 'extension');
      assert.equal(out.request.extends_grant_id, g.id);
      assert.equal(out.request.state, 'pending');
      assert.equal((await srv.ks.store.read.listGrants({ grantee: email('alice'), profile: 'host-shell' })).length, 1, 'no second grant');
    });
  });

  it(
    'parallel extension requests cannot together exceed extend.max_times or extend.max_total',
    async () => {
      await withServer({}, async (srv) => {
        const g = await held(srv, 'logs', { duration: '2h' }); // max_times 1, max_total 3h
        // Straight at the service: over HTTP the calls rarely interleave, this is the race.
        const alice = srv.ks.deps.directory.lookup(email('alice'))!;
        const results = await Promise.allSettled([1, 2, 3].map(() => srv.ks.services.requests.requestExtension(alice, g.id, 3600, null)));
        const after = ok<Grant>(await srv.api('alice', 'GET', `/api/v1/grants/${g.id}`), 200, 'read');
        const lasted = (Date.parse(after.ends_at!) - Date.parse(after.activated_at!)) / 1000;
        assert.ok(after.extensions <= 1 && lasted <= 3 * 3600, `${results.map((r) => r.status).join(',')}: extensions ${after.extensions}, lasts ${lasted / 3600}h (max_times 1, max_total 3h)`);
      });
    },
  );

  it(
    'a pending extension of a grant that has ended does not block a new request for the profile',
    async () => {
      await withServer({}, async (srv) => {
        const g = await held(srv, 'host-shell');
        ok(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '15m' }), 202, 'extension pending');
        ok(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/release`, {}), 200, 'release');
        const out = ok<Outcome>(await request(srv, 'alice', { profile: 'host-shell', reason: 'paged again' }), 201, 'new request after release');
        assert.equal(out.request.kind, 'grant');
      });
    },
  );

  it(
    'approving an extension of a grant already past its deadline is refused, not recorded as approved with nothing extended',
    async () => {
      await withServer({}, async (srv, clock) => {
        const g = await held(srv, 'host-shell', { duration: '15m' });
        const ext = ok<{ request: AccessRequest }>(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '15m' }), 202, 'extension pending').request;
        clock.advance(16 * 60); // past the deadline; the worker has not run yet
        const res = await decide(srv, 'bob', ext.id, 'approve');
        const r = ok<AccessRequest>(await srv.api('alice', 'GET', `/api/v1/requests/${ext.id}`), 200, 'read');
        const extended = (await audit(srv, 'grant.extended')).filter((e) => e.grant_id === g.id);
        assert.ok(r.state !== 'approved' || extended.length === 1, `approve → ${res.status}; request ${r.state} but ${extended.length} grant.extended events`);
      });
    },
  );
});

describe('break-glass review', () => {
  it('break-glass opens a review item; alice cannot review her own; bob reviews it → break_glass.reviewed', async () => {
    await withServer({}, async (srv) => {
      const out = ok<Outcome>(await request(srv, 'alice', { profile: 'host-shell', reason: 'db down, nobody answers', break_glass: true }), 201, 'break-glass');
      assert.equal(out.request.state, 'approved');
      const g = out.grant!;
      assert.equal(g.state, 'active');
      assert.equal(g.review_due_at, '2026-01-02T20:00:00.000Z');
      const items = ok<{ items: Array<Grant & { review_overdue: boolean }> }>(await srv.api('bob', 'GET', '/api/v1/reviews'), 200, 'bob reviews').items;
      assert.deepEqual(items.map((i) => [i.id, i.review_overdue]), [[g.id, false]]);
      assert.deepEqual(ok<{ items: Grant[] }>(await srv.api('alice', 'GET', '/api/v1/reviews'), 200, 'alice reviews').items, []);
      assert.match(refused(await srv.api('alice', 'POST', `/api/v1/grants/${g.id}/review`, { comment: 'fine' }), 403, 'POLICY_DENIED', 'self review'), /cannot review your own/);
      const reviewed = ok<{ grant: Grant }>(await srv.api('bob', 'POST', `/api/v1/grants/${g.id}/review`, { comment: 'justified' }), 200, 'bob reviews').grant;
      assert.equal(reviewed.reviewed_by, email('bob'));
      const events = (await audit(srv, 'break_glass.reviewed')).filter((e) => e.grant_id === g.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor, email('bob'));
      assert.equal(events[0]!.details.overdue, false);
      assert.deepEqual(ok<{ items: Grant[] }>(await srv.api('bob', 'GET', '/api/v1/reviews'), 200, 'bob reviews again').items, []);
      refused(await srv.api('erin', 'POST', `/api/v1/grants/${g.id}/review`, {}), 409, 'CONFLICT', 'second review');
    });
  });

  it('break-glass needs a reason and a profile that allows it', async () => {
    await withServer({}, async (srv) => {
      assert.match(refused(await request(srv, 'alice', { profile: 'host-shell', break_glass: true }), 403, 'POLICY_DENIED', 'no reason'), /break-glass requires a reason/);
      assert.match(refused(await request(srv, 'alice', { profile: 'logs', reason: 'x', break_glass: true }), 403, 'POLICY_DENIED', 'not allowed'), /logs does not allow break-glass/);
    });
  });
});

describe('end conditions', () => {
  it('endFor({incident}) ends grants of profiles with end_on: [incident_resolved] only', async () => {
    await withServer({}, async (srv) => {
      const ends = ok<Outcome>(await request(srv, 'alice', { profile: 'logs', incident: 'INC-9' }), 201, 'logs').grant!;
      const stays = ok<Outcome>(await request(srv, 'alice', { profile: 'plain-logs', incident: 'INC-9' }), 201, 'plain-logs').grant!;
      const other = ok<Outcome>(await request(srv, 'bob', { profile: 'logs', incident: 'INC-10' }), 201, 'other incident').grant!;
      const ended = await srv.ks.services.grants.endFor({ incident: 'INC-9' }, 'system:test');
      assert.deepEqual(ended.map((g) => [g.id, g.state]), [[ends.id, 'revoked']]);
      assert.equal((await srv.ks.store.read.getGrant(stays.id))!.state, 'active');
      assert.equal((await srv.ks.store.read.getGrant(other.id))!.state, 'active');
      const revoked = (await audit(srv, 'grant.revoked')).filter((e) => e.grant_id === ends.id);
      assert.equal(revoked.length, 1);
      assert.equal(revoked[0]!.reason, 'incident INC-9 resolved');
      assert.equal(revoked[0]!.actor, 'system:test');
    });
  });
});

describe('policy explain and matrix', () => {
  type Explain = { outcome: string; allowed: boolean; reasons: string[]; requirements: string[]; rules: Array<{ eligible: string[]; satisfiable: boolean }>; pre_approvals: Array<{ by: string }> };
  const explain = async (srv: TestServer, as: UserName, profile: string, query = '') => ok<Explain>(await srv.api(as, 'GET', `/api/v1/profiles/${profile}/explain${query}`), 200, `${as} explains ${profile}`);

  it('says auto-approve, needs approval (naming the rule) or denied (naming why)', async () => {
    await withServer({}, async (srv) => {
      const logs = await explain(srv, 'alice', 'logs');
      assert.equal(logs.outcome, 'auto_approve');
      assert.deepEqual(logs.reasons, ['logs requires no approval']);

      const shellEx = await explain(srv, 'alice', 'host-shell');
      assert.equal(shellEx.outcome, 'needs_approval');
      assert.deepEqual(shellEx.reasons, ['needs rule 1 (1 of group:sre-leads)']);
      assert.deepEqual(shellEx.rules[0]!.eligible, [email('bob'), email('erin')]);
      assert.deepEqual(shellEx.requirements, ['a request must include a reason (--reason)']);

      const tooLong = await explain(srv, 'alice', 'host-shell', '?duration=5h');
      assert.equal(tooLong.outcome, 'denied');
      assert.equal(tooLong.allowed, false);
      assert.deepEqual(tooLong.reasons, ["5h is longer than host-shell's maximum of 1h"]);

      const mallory = await explain(srv, 'carol', 'host-shell', `?user=${email('mallory')}`);
      assert.equal(mallory.outcome, 'denied');
      assert.match(mallory.reasons[0]!, /mallory@example\.com is not among the requesters of host-shell \(group:sre\)/);
      refused(await srv.api('alice', 'GET', `/api/v1/profiles/host-shell/explain?user=${email('bob')}`), 403, 'FORBIDDEN', 'alice explains for bob');
    });
  });

  it('shows on-call auto-approval and pre-approvals before a request is made', async () => {
    await withServer({}, async (srv) => {
      const alice = await explain(srv, 'alice', 'oncall');
      assert.equal(alice.outcome, 'auto_approve');
      assert.match(alice.reasons[0]!, /^auto-approved: alice@example\.com is on call for primary \(level 1, daily rotation\)/);
      const bob = await explain(srv, 'bob', 'oncall');
      assert.equal(bob.outcome, 'needs_approval');
      assert.match(bob.reasons[0]!, /^not auto-approved: bob@example\.com is not on call/);

      ok(await preapprove(srv, 'bob', 'alice', 'host-shell'), 201, 'pre-approve');
      const pre = await explain(srv, 'alice', 'host-shell');
      assert.equal(pre.outcome, 'auto_approve');
      assert.deepEqual(pre.pre_approvals.map((p) => p.by), [email('bob')]);
    });
  });

  it('GET /api/v1/policy/matrix is for admins and lists every user against every profile', async () => {
    await withServer({}, async (srv) => {
      refused(await srv.api('alice', 'GET', '/api/v1/policy/matrix'), 403, 'FORBIDDEN', 'alice');
      const items = ok<{ items: Array<{ profile: string; users: Array<{ user: string; outcome: string; approver: boolean }> }> }>(await srv.api('carol', 'GET', '/api/v1/policy/matrix'), 200, 'carol').items;
      const row = (profile: string, u: UserName) => items.find((i) => i.profile === profile)!.users.find((x) => x.user === email(u))!;
      assert.deepEqual(row('host-shell', 'alice'), { user: email('alice'), outcome: 'needs_approval', approver: false });
      assert.deepEqual(row('host-shell', 'bob'), { user: email('bob'), outcome: 'denied', approver: true });
      assert.equal(row('logs', 'mallory').outcome, 'auto_approve');
      assert.equal(items.length, Object.keys(RULE_PROFILES).length);
    });
  });
});
