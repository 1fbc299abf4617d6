/**
 * Profiles, on-call rotations and small helpers shared by the policy suites. Every profile
 * is on the SSH CA connector, so a suite needs no server besides Keyshift itself.
 *
 * Cast (test/harness/keyshift.ts): alice engineering+sre, bob engineering+sre-leads,
 * carol platform+security (admin), dave dba, erin dba+security+sre-leads, mallory
 * engineering.
 */
import { USERS } from '../harness/keyshift.ts';
import type { TestServer, UserName } from '../harness/keyshift.ts';
import type { Principal } from '../../src/core/model.ts';

export const email = (u: UserName): string => USERS[u].email;

/** The principal the API would resolve for `u`, straight from the directory. */
export function principal(srv: TestServer, u: UserName): Principal {
  const p = srv.ks.deps.directory.lookup(email(u));
  if (!p) throw new Error(`${u} is not in the directory`);
  return p;
}

const shell = (principals: string[]) => ({ connector: 'hosts', access: { principals } });

/**
 * A daily level-1 rotation of alice then bob, handing off at 09:00 UTC from 2026-01-01:
 * alice is on call 2026-01-01 09:00 → 2026-01-02 09:00, bob the day after, and so on.
 */
export const DAILY_ONCALL = {
  schedules: {
    primary: {
      time_zone: 'UTC',
      levels: [{ rotation: 'daily', start: '2026-01-01T09:00', members: [email('alice'), email('bob')] }],
    },
  },
};

/**
 * A weekly rotation that started in the past: alice holds the first week
 * (2025-12-29 09:00 → 2026-01-05 09:00 UTC), bob the next.
 */
export const WEEKLY_ONCALL = {
  schedules: {
    primary: {
      time_zone: 'UTC',
      levels: [{ rotation: 'weekly', start: '2025-12-29T09:00', members: [email('alice'), email('bob')] }],
    },
  },
};

/** One profile per policy feature the invariants suite exercises. */
export const POLICY_PROFILES: Record<string, unknown> = {
  // One lead approves; reason required; extensions need the same approval; break-glass.
  'host-shell': {
    ...shell(['oncall']),
    duration: { default: '15m', max: '1h' },
    requesters: ['group:sre'],
    requires: ['reason'],
    approval: { rules: [{ approvers: ['group:sre-leads'], count: 1 }] },
    request_ttl: '30m',
    extend: { max_times: 2, max_total: '2h' },
    break_glass: { allowed: true, review_within: '24h' },
  },
  // No approval; the grantee extends alone; ends when its incident resolves.
  logs: {
    ...shell(['logs']),
    duration: { default: '30m', max: '2h' },
    requesters: ['group:engineering'],
    extend: { max_times: 1, max_total: '3h', approval: 'none' },
    end_on: ['incident_resolved'],
  },
  // A DBA and someone from security, two denials to refuse, extensions after half-time.
  'two-team': {
    ...shell(['dbadmin']),
    duration: { default: '30m', max: '1h' },
    requesters: ['group:sre', 'group:engineering'],
    requires: ['reason', 'incident'],
    approval: { rules: [{ approvers: ['group:dba'], count: 1 }, { approvers: ['group:security'], count: 1 }], denials_required: 2 },
    extend: { max_times: 1, max_total: '2h', after_elapsed: '50%' },
    break_glass: { allowed: true, review_within: '1h' },
    end_on: ['incident_resolved'],
  },
  // Two distinct leads (bob and erin are the only ones).
  pair: {
    ...shell(['pair']),
    duration: { default: '20m', max: '1h' },
    requesters: ['group:engineering'],
    approval: { rules: [{ approvers: ['group:sre-leads'], count: 2 }] },
    request_ttl: '10m',
  },
  // erin (dba + security) satisfies both rules alone.
  overlap: {
    ...shell(['overlap']),
    duration: { default: '20m', max: '1h' },
    requesters: ['group:sre'],
    approval: { rules: [{ approvers: ['group:dba'], count: 1 }, { approvers: ['group:security'], count: 1 }], allow_overlap: true },
  },
  // Level-1 on-call is approved at once; the grant ends with the shift.
  oncall: {
    ...shell(['oncall']),
    duration: { default: '30m', max: '2h' },
    requesters: ['group:engineering'],
    approval: { rules: [{ approvers: ['group:sre-leads'], count: 1 }], auto_approve: { on_call: { schedule: 'primary', levels: [1] } } },
    request_ttl: '15m',
    extend: { max_times: 2, max_total: '4h' },
    end_on: ['shift_end'],
  },
};
