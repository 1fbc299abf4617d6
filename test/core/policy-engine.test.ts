import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { tallyApprovals, decideRequest, NO_FACTS } from '../../src/core/policy-engine.ts';
import type { Profile } from '../../src/core/profile.ts';

const dba = { approvers: ['group:dba'], count: 1 };
const security = { approvers: ['group:security'], count: 1 };

const profile = (over: Partial<Profile> = {}): Profile => ({
  name: 'db-admin',
  description: '',
  connector: 'prod-db',
  connectorType: 'postgres',
  access: {},
  defaultSeconds: 1800,
  maxSeconds: 3600,
  requesters: ['group:sre'],
  requires: ['reason', 'incident'],
  reason: { minLength: 0, pattern: null },
  ticketPattern: null,
  incidentPattern: null,
  approvalRules: [dba, security],
  allowOverlap: false,
  denialsRequired: 1,
  autoApproveOnCall: null,
  requestTtlSeconds: 1800,
  extend: null,
  breakGlass: { allowed: true, reviewWithinSeconds: 86400 },
  endOn: [],
  ...over,
});

describe('approval tally', () => {
  it('one person in both teams satisfies only one of two rules', () => {
    const t = tallyApprovals([dba, security], [{ email: 'erin@x', groups: ['dba', 'security'] }], 'alice@x');
    assert.equal(t.satisfied, false);
  });

  it('the order approvals arrive in never strands an approver on the wrong rule', () => {
    // erin could count for either rule; dave only for dba. A greedy pass that put erin on
    // dba first would leave security unmet.
    const t = tallyApprovals([dba, security], [{ email: 'erin@x', groups: ['dba', 'security'] }, { email: 'dave@x', groups: ['dba'] }], 'alice@x');
    assert.equal(t.satisfied, true);
    assert.equal(t.assignment.get('dave@x'), 0);
    assert.equal(t.assignment.get('erin@x'), 1);
  });

  it('the requester never counts, whatever groups they are in', () => {
    const t = tallyApprovals([dba], [{ email: 'alice@x', groups: ['dba'] }], 'ALICE@x');
    assert.equal(t.satisfied, false);
    assert.equal(t.assignment.get('alice@x'), null);
  });

  it('a rule with count 2 needs two distinct people', () => {
    const rule = { approvers: ['group:leads'], count: 2 };
    assert.equal(tallyApprovals([rule], [{ email: 'a@x', groups: ['leads'] }], 'r@x').satisfied, false);
    assert.equal(tallyApprovals([rule], [{ email: 'a@x', groups: ['leads'] }, { email: 'b@x', groups: ['leads'] }], 'r@x').satisfied, true);
  });

  it('satisfied exactly when a perfect assignment exists (property)', () => {
    const groups = ['a', 'b', 'c'];
    const arb = fc.record({
      rules: fc.array(fc.record({ g: fc.constantFrom(...groups), count: fc.integer({ min: 1, max: 2 }) }), { minLength: 1, maxLength: 3 }),
      people: fc.array(fc.subarray(groups, { minLength: 1 }), { maxLength: 5 }),
    });
    fc.assert(
      fc.property(arb, ({ rules, people }) => {
        const rs = rules.map((r) => ({ approvers: [`group:${r.g}`], count: r.count }));
        const ps = people.map((g, i) => ({ email: `p${i}@x`, groups: g }));
        const t = tallyApprovals(rs, ps, 'req@x');
        // Brute force: try every assignment of people to rules (or none).
        const seats = rs.map((r) => r.count);
        const search = (i: number, left: number[]): boolean => {
          if (left.every((n) => n <= 0)) return true;
          if (i === ps.length) return false;
          if (search(i + 1, left)) return true;
          return rs.some((r, k) => left[k]! > 0 && ps[i]!.groups.includes(r.approvers[0]!.slice(6)) && search(i + 1, left.map((n, j) => (j === k ? n - 1 : n))));
        };
        assert.equal(t.satisfied, search(0, seats));
        // No one counts twice.
        const counted = t.rules.flatMap((r) => r.counted);
        assert.equal(new Set(counted).size, counted.length);
      }),
      { numRuns: 300 },
    );
  });
});

describe('request decisions', () => {
  it('pre-approvals count as their authors\' approvals and must meet every rule', () => {
    const p = profile();
    const carol = { approver: { email: 'carol@x', groups: ['security'] }, until: '2030-01-01T00:00:00.000Z', id: 'pre_1' };
    const dave = { approver: { email: 'dave@x', groups: ['dba'] }, until: '2030-01-01T00:00:00.000Z', id: 'pre_2' };
    assert.equal(decideRequest(p, { email: 'alice@x', groups: ['sre'] }, { durationSeconds: 60, reason: 'r', ticket: null, incident: 'I-1', breakGlass: false }, { ...NO_FACTS, preApprovals: [carol] }).outcome, 'needs_approval');
    const both = decideRequest(p, { email: 'alice@x', groups: ['sre'] }, { durationSeconds: 60, reason: 'r', ticket: null, incident: 'I-1', breakGlass: false }, { ...NO_FACTS, preApprovals: [carol, dave] });
    assert.equal(both.outcome, 'auto_approve');
    assert.match(both.reasons.join(' '), /pre-approved by carol@x/);
  });

  it('a reason that fails the pattern or is too short is refused, naming the rule', () => {
    const p = profile({ reason: { minLength: 10, pattern: '^INC-\\d+' } });
    const d = decideRequest(p, { email: 'alice@x', groups: ['sre'] }, { durationSeconds: 60, reason: 'fix', ticket: null, incident: 'I-1', breakGlass: false }, NO_FACTS);
    assert.equal(d.outcome, 'denied');
    assert.match(d.reasons.join('\n'), /at least 10 characters/);
    assert.match(d.reasons.join('\n'), /must match \^INC-/);
  });

  it('a closed ticket and a resolved incident are refused', () => {
    const d = decideRequest(profile({ requires: ['reason', 'ticket', 'incident'] }), { email: 'alice@x', groups: ['sre'] }, { durationSeconds: 60, reason: 'r', ticket: 'OPS-1', incident: 'P1', breakGlass: false }, {
      ...NO_FACTS,
      ticket: { exists: true, open: false, detail: 'status Done' },
      incident: { exists: true, open: false, detail: 'resolved 10:02' },
    });
    assert.equal(d.outcome, 'denied');
    assert.match(d.reasons.join('\n'), /ticket OPS-1 is closed/);
    assert.match(d.reasons.join('\n'), /incident P1 is resolved/);
  });

  it('with allow_overlap one person satisfies every rule they are eligible for', () => {
    const t = tallyApprovals([dba, security], [{ email: 'erin@x', groups: ['dba', 'security'] }], 'alice@x', true);
    assert.equal(t.satisfied, true);
  });

  const alice = { email: 'alice@x', groups: ['sre'] };
  const base = { durationSeconds: 600, reason: 'INC-1', ticket: null, incident: 'INC-1', breakGlass: false };

  it('names every reason a request is refused', () => {
    const d = decideRequest(profile(), { email: 'm@x', groups: [] }, { ...base, durationSeconds: 7200, reason: null, incident: null }, NO_FACTS);
    assert.equal(d.outcome, 'denied');
    assert.equal(d.reasons.length, 4);
    assert.match(d.reasons.join('\n'), /not among the requesters/);
    assert.match(d.reasons.join('\n'), /longer than db-admin's maximum of 1h/);
  });

  it('needs approval naming each rule', () => {
    const d = decideRequest(profile(), alice, base, NO_FACTS);
    assert.equal(d.outcome, 'needs_approval');
    assert.deepEqual(d.reasons, ['needs rule 1 (1 of group:dba)', 'needs rule 2 (1 of group:security)']);
  });

  it('break-glass needs a reason and a profile that allows it', () => {
    assert.equal(decideRequest(profile(), alice, { ...base, breakGlass: true }, NO_FACTS).outcome, 'break_glass');
    assert.equal(decideRequest(profile({ breakGlass: { allowed: false, reviewWithinSeconds: 1 } }), alice, { ...base, breakGlass: true }, NO_FACTS).outcome, 'denied');
    assert.equal(decideRequest(profile({ requires: [] }), alice, { ...base, reason: null, breakGlass: true }, NO_FACTS).outcome, 'denied');
  });

  it('a profile without rules is approved by policy, with that reason', () => {
    const d = decideRequest(profile({ approvalRules: [] }), alice, base, NO_FACTS);
    assert.deepEqual(d, { outcome: 'auto_approve', reasons: ['db-admin requires no approval'], preApprovedBy: [] });
  });

  it('on-call auto-approval applies only when the source says so, and says why not', () => {
    const p = profile({ autoApproveOnCall: { source: 'rotation', schedule: 'primary', levels: [1] } });
    assert.equal(decideRequest(p, alice, base, { ...NO_FACTS, onCall: { onCall: true, detail: 'alice is on call for primary' } }).outcome, 'auto_approve');
    const no = decideRequest(p, alice, base, { ...NO_FACTS, onCall: { onCall: false, detail: 'bob is on call for primary' } });
    assert.equal(no.outcome, 'needs_approval');
    assert.match(no.reasons[0]!, /not auto-approved: bob is on call/);
  });
});
