import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PreApproval } from '../../src/core/model.ts';
import { accessRequest, apiError, breakGlassGrant, type FakeApi, grant, preApproval, run, startFakeApi, tempHome } from './harness.ts';

const PRE = 'pre_01HZX0000000000000000000CC';
const OVERDUE = 'grt_01HZX00000000000000000OVER';
const DUE = 'grt_01HZX000000000000000000DUE';
const hoursFromNow = (h: number) => new Date(Date.now() + h * 3600_000).toISOString();

describe('break-glass reviews, pre-approvals and the request and grant tables', () => {
  let api: FakeApi;
  let home: { dir: string; cleanup: () => Promise<void> };
  let reviews: unknown[] = [];
  before(async () => {
    home = await tempHome();
    api = await startFakeApi({
      'GET /api/v1/reviews': () => ({ json: { items: reviews } }),
      [`POST /api/v1/grants/${OVERDUE}/review`]: (s) => ({
        json: { grant: breakGlassGrant(-7200, { id: OVERDUE, reviewed_at: new Date().toISOString(), reviewed_by: 'bob@example.com', review_comment: (s.body?.comment as string | undefined) ?? null }) },
      }),
      'POST /api/v1/grants/grt_mine/review': () => apiError(403, 'POLICY_DENIED', 'you cannot review your own break-glass use (grt_mine)'),
      'POST /api/v1/grants/grt_plain/review': () => apiError(409, 'CONFLICT', 'grant grt_plain was not a break-glass grant'),
      'POST /api/v1/preapprovals': (s) =>
        s.body?.user === 'bob@example.com'
          ? apiError(403, 'POLICY_DENIED', 'you cannot pre-approve yourself')
          : { status: 201, json: preApproval({ user: s.body?.user as string, profile: s.body?.profile as string }) },
      'GET /api/v1/preapprovals': () => ({
        json: {
          items: [
            preApproval(),
            preApproval({ id: 'pre_later', starts_at: hoursFromNow(24), ends_at: hoursFromNow(48) }),
            preApproval({ id: 'pre_gone', revoked_at: new Date().toISOString(), revoked_by: 'bob@example.com' }),
            preApproval({ id: 'pre_old', starts_at: hoursFromNow(-48), ends_at: hoursFromNow(-24) }),
          ],
        },
      }),
      [`POST /api/v1/preapprovals/${PRE}/revoke`]: () => ({
        json: preApproval({ revoked_at: new Date().toISOString(), revoked_by: 'bob@example.com' }),
      }),
      'GET /api/v1/requests': () => ({
        json: {
          items: [
            accessRequest({
              approvals: [
                { approver: 'bob@example.com', decision: 'approve', comment: null, rule: 0, automatic: false, created_at: new Date().toISOString() },
                { approver: 'carol@example.com', decision: 'deny', comment: 'not during the freeze', rule: null, automatic: false, created_at: new Date().toISOString() },
              ],
            }),
            accessRequest({ id: 'req_ext', kind: 'extension', extends_grant_id: 'grt_01', duration_seconds: 1800, state: 'approved' }),
          ],
        },
      }),
      'GET /api/v1/requests/req_01HZX0000000000000000000AA': () => ({
        json: accessRequest({
          approvals: [{ approver: 'carol@example.com', decision: 'deny', comment: 'not during the freeze', rule: null, automatic: false, created_at: new Date().toISOString() }],
        }),
      }),
      'POST /api/v1/requests/req_01HZX0000000000000000000AA/deny': () => ({
        json: {
          request: accessRequest({
            approvals: [{ approver: 'carol@example.com', decision: 'deny', comment: 'not during the freeze', rule: null, automatic: false, created_at: new Date().toISOString() }],
          }),
          grant: null,
        },
      }),
      'GET /api/v1/grants': () => ({
        json: {
          items: [
            grant({ id: 'grt_plain' }),
            breakGlassGrant(-3600, { id: OVERDUE }),
            breakGlassGrant(3600 * 20, { id: DUE }),
            breakGlassGrant(3600, { id: 'grt_done', reviewed_at: new Date().toISOString(), reviewed_by: 'bob@example.com' }),
          ],
        },
      }),
    });
  });
  after(async () => {
    await api.close();
    await home.cleanup();
  });
  const cli = (...argv: string[]) => run(argv, { home: home.dir, env: { KEYSHIFT_SERVER: api.url, KEYSHIFT_TOKEN: 'tok_test' } });
  const last = (method: string, path: string) => api.seen.filter((s) => s.method === method && s.path === path).at(-1);

  it('reviews lists overdue items first, marked OVERDUE, and counts them', async () => {
    reviews = [breakGlassGrant(3600 * 20, { id: DUE }), breakGlassGrant(-7200, { id: OVERDUE, incident: 'INC-9' })];
    const r = await cli('reviews');
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0] ?? '', /^GRANT\s+REVIEW\s+PROFILE\s+USER/);
    assert.match(lines[1] ?? '', new RegExp(`^${OVERDUE}\\s+OVERDUE \\(due 2h ago\\)\\s+db-admin\\s+alice@example\\.com\\s+active\\s+.*INC-9$`));
    assert.match(lines[2] ?? '', new RegExp(`^${DUE}\\s+due in (19h 59m|20h)\\s+db-admin`));
    assert.match(r.stderr, /2 open reviews, 1 OVERDUE; acknowledge with: keyshift review GRANT/);
  });

  it('reviews with nothing open says so, and --json prints {items}', async () => {
    reviews = [];
    const r = await cli('reviews');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /no open break-glass reviews/);
    reviews = [breakGlassGrant(-60, { id: OVERDUE })];
    const j = await cli('reviews', '--json');
    assert.equal((JSON.parse(j.stdout) as { items: Array<{ review_overdue: boolean }> }).items[0]?.review_overdue, true);
  });

  it('review sends the comment and says the review was late', async () => {
    const r = await cli('review', OVERDUE, '--comment', 'checked the session log');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(last('POST', `/api/v1/grants/${OVERDUE}/review`)?.body, { comment: 'checked the session log' });
    assert.match(r.stdout, new RegExp(`^reviewed ${OVERDUE}: break-glass db-admin by alice@example\\.com, active, late: it was due 2h ago$`, 'm'));
    assert.match(r.stdout, /comment: checked the session log/);
  });

  it('review --json prints {grant} as one value', async () => {
    const r = await cli('review', OVERDUE, '--json');
    assert.equal(r.code, 0);
    assert.equal((JSON.parse(r.stdout) as { grant: { reviewed_by: string } }).grant.reviewed_by, 'bob@example.com');
  });

  it('reviewing your own break-glass use is denied by policy: exit 3; a plain grant is a conflict: exit 1', async () => {
    const own = await cli('review', 'grt_mine');
    assert.equal(own.code, 3);
    assert.match(own.stderr, /own break-glass use .*\(POLICY_DENIED\)/);
    const plain = await cli('review', 'grt_plain');
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /\(CONFLICT\)/);
  });

  it('preapprove --for sends user, profile, duration and reason', async () => {
    const r = await cli('preapprove', 'alice@example.com', 'db-read', '--for', '7d', '--reason', 'on call week 49');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(last('POST', '/api/v1/preapprovals')?.body, { profile: 'db-read', user: 'alice@example.com', duration: '7d', reason: 'on call week 49' });
    assert.match(r.stdout, new RegExp(`^pre-approval  ${PRE}  active  alice@example\\.com for db-read, approved by bob@example\\.com$`, 'm'));
    assert.match(r.stderr, new RegExp(`keyshift preapproval revoke ${PRE}`));
  });

  it('preapprove --from/--until sends the window as starts_at/ends_at', async () => {
    const r = await cli('preapprove', 'alice@example.com', 'db-read', '--from', '2030-12-07T09:00:00Z', '--until', '2030-12-14T09:00:00Z');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(last('POST', '/api/v1/preapprovals')?.body, {
      profile: 'db-read', user: 'alice@example.com', starts_at: '2030-12-07T09:00:00Z', ends_at: '2030-12-14T09:00:00Z',
    });
  });

  it('preapprove --json prints the pre-approval as one value', async () => {
    const r = await cli('preapprove', 'alice@example.com', 'db-read', '--for', '1d', '--json');
    assert.equal(r.code, 0);
    assert.equal((JSON.parse(r.stdout) as PreApproval).id, PRE);
  });

  it('pre-approving yourself is denied by policy: exit 3', async () => {
    const r = await cli('preapprove', 'bob@example.com', 'db-read', '--for', '1d');
    assert.equal(r.code, 3);
    assert.match(r.stderr, /pre-approve yourself \(POLICY_DENIED\)/);
  });

  const usage: Array<[string, string[], RegExp]> = [
    ['neither --for nor --until', ['preapprove', 'alice@example.com', 'db-read'], /exactly one of --for DURATION or --until TIME/],
    ['both --for and --until', ['preapprove', 'alice@example.com', 'db-read', '--for', '1d', '--until', '2030-01-01T00:00:00Z'], /exactly one/],
    ['a missing PROFILE', ['preapprove', 'alice@example.com', '--for', '1d'], /missing PROFILE/],
    ['a bad --for', ['preapprove', 'alice@example.com', 'db-read', '--for', 'a week'], /--for "a week" is not a duration/],
    ['an --until that is not an ISO time', ['preapprove', 'alice@example.com', 'db-read', '--until', '12/07'], /--until "12\/07" is not an ISO time/],
    ['a bad --from', ['preapprove', 'alice@example.com', 'db-read', '--for', '1d', '--from', 'tomorrow'], /--from "tomorrow"/],
    ['an --until before --from', ['preapprove', 'alice@example.com', 'db-read', '--from', '2030-01-02T00:00:00Z', '--until', '2030-01-01T00:00:00Z'], /is not after --from/],
    ['preapproval without a sub-command', ['preapproval'], /needs a sub-command: revoke/],
    ['preapproval revoke without an ID', ['preapproval', 'revoke'], /missing ID/],
    ['review without a GRANT', ['review'], /missing GRANT/],
    ['reviews with an argument', ['reviews', 'grt_1'], /unexpected argument/],
  ];
  for (const [what, argv, message] of usage) {
    it(`${what} is a usage error: exit 2 and nothing sent`, async () => {
      const before = api.seen.length;
      const r = await cli(...argv);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(api.seen.length, before);
    });
  }

  it('preapprovals shows each window with its state', async () => {
    const r = await cli('preapprovals');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID\s+STATE\s+USER\s+PROFILE\s+FROM\s+UNTIL\s+BY\s+REASON$/m);
    assert.match(r.stdout, new RegExp(`^${PRE}\\s+active\\s+alice@example\\.com\\s+db-read\\s+just now\\s+in (6d 23h|7d)\\s+bob@example\\.com\\s+on call week 49$`, 'm'));
    assert.match(r.stdout, /^pre_later\s+scheduled\s/m);
    assert.match(r.stdout, /^pre_gone\s+revoked\s/m);
    assert.match(r.stdout, /^pre_old\s+ended\s/m);
    const j = await cli('preapprovals', '--json');
    assert.equal((JSON.parse(j.stdout) as { items: unknown[] }).items.length, 4);
  });

  it('preapproval revoke posts {} and shows the window revoked', async () => {
    const r = await cli('preapproval', 'revoke', PRE);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(last('POST', `/api/v1/preapprovals/${PRE}/revoke`)?.body, {});
    assert.match(r.stdout, new RegExp(`pre-approval  ${PRE}  revoked`));
    assert.match(r.stdout, /revoked just now by bob@example\.com/);
    const j = await cli('preapproval', 'revoke', PRE, '--json');
    assert.equal((JSON.parse(j.stdout) as PreApproval).revoked_by, 'bob@example.com');
  });

  it('revoking a pre-approval that does not exist exits 1 with NOT_FOUND', async () => {
    const r = await cli('preapproval', 'revoke', 'pre_missing');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\(NOT_FOUND\)/);
  });

  it('requests shows each request\'s kind and the approvals and denials recorded so far', async () => {
    const r = await cli('requests');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID\s+STATE\s+KIND\s+PROFILE\s+REQUESTER\s+FOR\s+CREATED\s+VOTES\s+WHY$/m);
    assert.match(r.stdout, /^req_01HZX0000000000000000000AA\s+pending\s+grant\s+db-read\s+alice@example\.com\s+1h\s+just now\s+1 approve, 1 deny\s+INC-1 triage$/m);
    assert.match(r.stdout, /^req_ext\s+approved\s+extension\s+db-read\s+alice@example\.com\s+30m\s+just now\s+-\s+extends grt_01 INC-1 triage$/m);
  });

  it('a denial that does not yet end the request is shown as a denial, not an approval', async () => {
    const r = await cli('deny', 'req_01HZX0000000000000000000AA', '--comment', 'not during the freeze');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {9}denied by carol@example\.com: not during the freeze$/m);
    assert.doesNotMatch(r.stdout, /approved by carol/);
  });

  it('grants marks break-glass grants: overdue, unreviewed, reviewed', async () => {
    const r = await cli('grants', '--all');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID\s+STATE\s+PROFILE\s+USER\s+ENDS IN\s+INCIDENT\s+BREAK-GLASS$/m);
    assert.match(r.stdout, /^grt_plain\s+active\s+db-read\s+alice@example\.com\s+(59m \d+s|1h)$/m);
    assert.match(r.stdout, new RegExp(`^${OVERDUE}\\s+active\\s+db-admin\\s+.*REVIEW OVERDUE \\(due 1h ago\\)$`, 'm'));
    assert.match(r.stdout, new RegExp(`^${DUE}\\s+active\\s+db-admin\\s+.*unreviewed, due in (19h 59m|20h)$`, 'm'));
    assert.match(r.stdout, /^grt_done\s+active\s+db-admin\s+.*reviewed by bob@example\.com$/m);
  });
});
