import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Explanation } from '../../src/cli/api-types.ts';
import { apiError, explanation, type FakeApi, matrixRow, run, startFakeApi, tempHome } from './harness.ts';

describe('keyshift policy explain and policy matrix', () => {
  let api: FakeApi;
  let home: { dir: string; cleanup: () => Promise<void> };
  let answer: Explanation = explanation();
  before(async () => {
    home = await tempHome();
    api = await startFakeApi({
      'GET /api/v1/profiles/db-read/explain': () => ({ json: answer }),
      'GET /api/v1/policy/matrix': (s) =>
        s.authorization === 'Bearer tok_alice'
          ? apiError(403, 'FORBIDDEN', 'the policy matrix is for admins')
          : {
              json: {
                items: [
                  matrixRow(),
                  matrixRow({
                    profile: 'db-admin', max_seconds: 3600, break_glass: true,
                    on_call_auto_approval: { source: 'pagerduty', schedule: 'PABC123', levels: [1] },
                    users: [
                      { user: 'alice@example.com', outcome: 'needs_approval', approver: false },
                      { user: 'bob@example.com', outcome: 'denied', approver: true },
                      { user: 'carol@example.com', outcome: 'auto_approve', approver: false },
                    ],
                  }),
                ],
              },
            },
    });
  });
  after(async () => {
    await api.close();
    await home.cleanup();
  });
  const cli = (...argv: string[]) => run(argv, { home: home.dir, env: { KEYSHIFT_SERVER: api.url, KEYSHIFT_TOKEN: 'tok_test' } });

  it('explain says a pre-approved request would be auto-approved, by whom and until when', async () => {
    const until = new Date(Date.now() + 3 * 86400_000).toISOString();
    answer = explanation({
      outcome: 'auto_approve',
      reasons: [`pre-approved by bob@example.com until ${until} (pre_01)`],
      pre_approvals: [{ id: 'pre_01', by: 'bob@example.com', until }],
    });
    const r = await cli('policy', 'explain', 'db-read');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^db-read for alice@example.com, 1h: would be auto-approved: pre-approved by bob@example.com until ${until}$`, 'm'));
    assert.match(r.stdout, /^pre-approved:\n {2}- by bob@example\.com until .* \(in (2d 23h|3d)\), pre_01$/m);
  });

  it('explain warns about an approval rule that nobody can satisfy', async () => {
    answer = explanation({
      reasons: ['needs rule 1 (1 of group:sre-leads)', 'needs rule 2 (2 of group:security)'],
      rules: [
        { index: 0, approvers: ['group:sre-leads'], count: 1, eligible: ['bob@example.com'], satisfiable: true },
        { index: 1, approvers: ['group:security'], count: 2, eligible: ['carol@example.com'], satisfiable: false },
      ],
    });
    const r = await cli('policy', 'explain', 'db-read');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^approval rules \(all must be met\):$/m);
    assert.match(r.stdout, /rule 1: 1 of group:sre-leads \(eligible: bob@example\.com\)\n {2}rule 2/);
    assert.match(r.stdout, /rule 2: 2 of group:security \(eligible: carol@example\.com\)\n {4}WARNING: nobody can satisfy rule 2: it needs 2 distinct approvers besides alice@example\.com, and only 1 is eligible/);
    assert.match(r.stderr, /could never be approved/);
  });

  it('explain shows on-call detail, requirements, a grant already held and break-glass', async () => {
    const shift = new Date(Date.now() + 5 * 3600_000).toISOString();
    const ends = new Date(Date.now() + 1800_000).toISOString();
    answer = explanation({
      outcome: 'auto_approve',
      reasons: ['auto-approved: alice@example.com is on call for PABC123 (level 1)'],
      on_call: { on_call: true, detail: 'alice@example.com is on call for PABC123 (level 1)', shift_ends_at: shift },
      held_grant: { id: 'grt_held', ends_at: ends, note: 'a new request becomes an extension request for this grant' },
      requirements: ['a request must include a reason (--reason)', 'the reason must be at least 10 characters'],
      break_glass_allowed: true,
    });
    const r = await cli('policy', 'explain', 'db-read');
    assert.match(r.stdout, /: would be auto-approved: on call$/m);
    assert.match(r.stdout, /^on call: yes: alice@example\.com is on call for PABC123 \(level 1\); shift ends in (4h 59m|5h)/m);
    assert.match(r.stdout, /^already held: grt_held until .* \(ends in (29m|30m)/m);
    assert.match(r.stdout, /^ {2}a new request becomes an extension request for this grant$/m);
    assert.match(r.stdout, /^requirements:\n {2}- a request must include a reason \(--reason\)\n {2}- the reason must be at least 10 characters$/m);
    assert.match(r.stdout, /^break-glass: allowed$/m);
  });

  it('explain for someone the policy refuses says so with the reasons and still exits 0', async () => {
    answer = explanation({ user: 'carol@example.com', allowed: false, outcome: 'denied', reasons: ['carol@example.com is not among the requesters of db-read (group:engineering)'] });
    const r = await cli('policy', 'explain', 'db-read', '--user', 'carol@example.com');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^db-read for carol@example\.com, 1h: would be denied$/m);
    assert.match(r.stdout, /^ {2}- carol@example\.com is not among the requesters/m);
  });

  it('explain --json prints the API answer unchanged as one value', async () => {
    answer = explanation();
    const r = await cli('policy', 'explain', 'db-read', '--json');
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), answer);
  });

  it('matrix shows profiles × users with outcomes, approver marks and profile terms', async () => {
    const r = await cli('policy', 'matrix');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0] ?? '', /^PROFILE\s+alice@example\.com\s+bob@example\.com\s+carol@example\.com\s+MAX\s+AUTO IF ON CALL\s+BREAK-GLASS$/);
    assert.match(lines[1] ?? '', /^db-read\s+approval\s+approval\*\s+—\s+4h\s+-\s+-$/);
    assert.match(lines[2] ?? '', /^db-admin\s+approval\s+—\*\s+auto\s+1h\s+pagerduty:PABC123\s+allowed$/);
    assert.match(r.stdout, /\*: may approve/);
  });

  it('matrix --json prints {items} as one value', async () => {
    const r = await cli('policy', 'matrix', '--json');
    assert.equal(r.code, 0);
    const value = JSON.parse(r.stdout) as { items: Array<{ profile: string }> };
    assert.deepEqual(value.items.map((i) => i.profile), ['db-read', 'db-admin']);
  });

  it('matrix for someone who is not an admin exits 1 with FORBIDDEN', async () => {
    const r = await run(['policy', 'matrix'], { home: home.dir, env: { KEYSHIFT_SERVER: api.url, KEYSHIFT_TOKEN: 'tok_alice' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /for admins \(FORBIDDEN\)/);
  });

  it('policy with no sub-command, or matrix with an argument, is a usage error', async () => {
    const before = api.seen.length;
    const a = await cli('policy');
    assert.equal(a.code, 2);
    assert.match(a.stderr, /needs a sub-command: explain, matrix/);
    const b = await cli('policy', 'matrix', 'db-read');
    assert.equal(b.code, 2);
    assert.equal(api.seen.length, before);
  });
});
