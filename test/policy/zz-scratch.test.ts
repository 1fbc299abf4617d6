import { test } from 'node:test';
import { startKeyshift, DEFAULT_PROFILES, USERS } from '../harness/keyshift.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { tallyApprovals } from '../../src/core/policy-engine.ts';

test('scratch', async () => {
  const clock = new ManualClock('2026-01-05T08:30:00Z');
  const srv = await startKeyshift({ clock, profiles: {
    ...DEFAULT_PROFILES,
    free: { connector: 'hosts', access: { principals: ['x'] }, duration: { default: '30m', max: '1h' }, requesters: ['group:engineering'], extend: { max_times: 1, max_total: '2h', approval: 'none' } },
    oc: { connector: 'hosts', access: { principals: ['x'] }, duration: { default: '30m', max: '1h' }, requesters: ['group:engineering'], approval: { rules: [{ approvers: ['group:sre-leads'] }], auto_approve: { on_call: { schedule: 'primary', levels: [1] } } }, end_on: ['shift_end'], extend: { max_times: 2, max_total: '3h', approval: 'same' } },
  }, extra: { oncall: { schedules: { primary: { time_zone: 'UTC', levels: [{ rotation: 'weekly', start: '2025-12-29T09:00', members: [USERS.alice.email, USERS.bob.email] }] } } } } });
  const P = (n: keyof typeof USERS) => srv.ks.deps.directory.lookup(USERS[n].email)!;
  const { requests, preapprovals } = srv.ks.services;
  // A: duplicate pre-approval
  await preapprovals.create(P('bob'), { profile: 'host-shell', user: USERS.alice.email, startsAt: null, endsAt: new Date(clock.now().getTime() + 3600e3), reason: null });
  await preapprovals.create(P('bob'), { profile: 'host-shell', user: USERS.alice.email, startsAt: null, endsAt: new Date(clock.now().getTime() + 7200e3), reason: null });
  try { const o = await requests.create(P('alice'), { profile: 'host-shell', durationSeconds: 600, reason: 'x', ticket: null, incident: null, breakGlass: false }); console.log('A ok', o.request.state); } catch (e) { console.log('A err', (e as Error).constructor.name, (e as Error).message); }
  // B: parallel extension
  const o = await requests.create(P('alice'), { profile: 'free', durationSeconds: 3600, reason: null, ticket: null, incident: null, breakGlass: false });
  const rs = await Promise.allSettled([1,2,3].map(() => requests.requestExtension(P('alice'), o.grant!.id, 3600, null)));
  console.log('B', rs.map((r) => r.status === 'fulfilled' ? 'ok' : (r.reason as Error).message));
  const g = await srv.ks.store.read.getGrant(o.grant!.id);
  console.log('B grant', g!.extensions, g!.activated_at, g!.ends_at);
  // C: partial pre-approval two-team
  await preapprovals.create(P('dave'), { profile: 'two-team', user: USERS.alice.email, startsAt: null, endsAt: new Date(clock.now().getTime() + 3600e3), reason: null });
  const t = await requests.create(P('alice'), { profile: 'two-team', durationSeconds: 600, reason: 'x', ticket: null, incident: 'INC-1', breakGlass: false });
  console.log('C', t.request.state, t.request.decision_reasons);
  const t2 = await requests.approve(P('carol'), t.request.id, null);
  console.log('C after carol', t2.request.state, t2.request.approvals);
  // D: extension past shift end
  const d = await requests.create(P('alice'), { profile: 'oc', durationSeconds: 3600, reason: null, ticket: null, incident: null, breakGlass: false });
  console.log('D', d.request.state, d.grant?.ends_at);
  clock.advance(20 * 60);
  const e = await requests.requestExtension(P('alice'), d.grant!.id, 3600, null);
  console.log('D ext', e.request.state, e.request.decision_reasons, e.grant?.ends_at);
  console.log('E', tallyApprovals([{ approvers: ['group:sre-leads'], count: 2 }], [USERS.bob, USERS.bob].map((u) => ({ email: u.email, groups: [...u.groups] })), USERS.alice.email).satisfied);
  await srv.close();
});
