/**
 * Expiry timing on the real clock, in-process (the harness's startKeyshift: real config,
 * SQLite, SSH CA connector, HTTP). The product promise is "within about a second of the
 * deadline"; here 50 grants ending at nearly the same moment must each be removed less
 * than 1.5 s late, and an extension must move the deadline the worker acts on.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startKeyshift, USERS, type TestServer, type UserName } from '../harness/keyshift.ts';
import type { AuditEvent, Grant } from '../../src/core/model.ts';
import { Cleanup, metricValue, waitFor } from './helpers.ts';

const COUNT = 50;
const SECONDS = 2;
const MAX_LAG_MS = 1500;

/**
 * One user holds one live grant per profile, so 50 concurrent grants need 50
 * (user, profile) pairs: 9 identical no-approval profiles × 6 users.
 */
const LOG_PROFILES = Array.from({ length: 9 }, (_, i) => `logs-${i}`);
const noApproval = (principal: string, extra: Record<string, unknown> = {}) => ({
  description: 'No approval',
  connector: 'hosts',
  access: { principals: [principal] },
  duration: { default: '30m', max: '2h' },
  requesters: ['*'],
  ...extra,
});

const cleanup = new Cleanup();
let ks: TestServer;

before(async () => {
  const profiles: Record<string, unknown> = Object.fromEntries(LOG_PROFILES.map((p) => [p, noApproval('logs')]));
  profiles['extendable'] = noApproval('oncall', { extend: { max_times: 2, max_total: '4h' } });
  ks = await startKeyshift({ profiles });
  cleanup.add('close keyshift', () => ks.close());
});

after(async () => {
  await cleanup.run();
});

const pairs: Array<[UserName, string]> = LOG_PROFILES.flatMap((p) => (Object.keys(USERS) as UserName[]).map((u): [UserName, string] => [u, p])).slice(0, COUNT);

async function request(user: UserName, profile: string, duration: string): Promise<Grant> {
  const res = await ks.api<{ grant: Grant | null }>(user, 'POST', '/api/v1/requests', { profile, duration });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.body.grant?.state, 'active', res.text);
  return res.body.grant!;
}

async function grantNow(id: string): Promise<Grant> {
  const g = await ks.ks.store.read.getGrant(id);
  assert.ok(g, `grant ${id} vanished`);
  return g;
}

async function expiredEvent(id: string): Promise<AuditEvent | undefined> {
  const res = await ks.api<{ items: AuditEvent[] }>('carol', 'GET', `/api/v1/audit?action=grant.expired&grant=${id}`);
  return res.body.items[0];
}

describe('the expiry worker on the real clock', () => {
  it(`${COUNT} grants of ${SECONDS} s, made at once, each expire less than ${MAX_LAG_MS} ms after their deadline`, async (t) => {
    assert.equal(pairs.length, COUNT);
    const grants = await Promise.all(pairs.map(([u, p]) => request(u, p, `${SECONDS}s`)));
    const ids = grants.map((g) => g.id);
    for (const g of grants) assert.equal(Date.parse(g.ends_at!) - Date.parse(g.activated_at!), SECONDS * 1000);

    const latest = Math.max(...grants.map((g) => Date.parse(g.ends_at!)));
    await waitFor(
      `all ${COUNT} grants to be expired`,
      async () => {
        const now = await Promise.all(ids.map(grantNow));
        return now.every((g) => g.state === 'expired') ? true : undefined;
      },
      { timeoutMs: latest - Date.now() + 15_000, intervalMs: 200 },
    );

    const res = await ks.api<{ items: AuditEvent[] }>('carol', 'GET', '/api/v1/audit?action=grant.expired&limit=10000');
    const events = res.body.items.filter((e) => e.grant_id !== null && ids.includes(e.grant_id));
    assert.equal(events.length, COUNT, 'one grant.expired event per grant');
    const lags = events.map((e) => e.details.lag_ms as number).sort((a, b) => a - b);
    t.diagnostic(`expiry lag over ${COUNT} grants: min ${lags[0]} ms, median ${lags[Math.floor(COUNT / 2)]} ms, max ${lags[COUNT - 1]} ms`);
    for (const e of events) {
      assert.equal(e.actor, 'system:expiry');
      const lag = e.details.lag_ms as number;
      assert.ok(lag >= 0, `${e.grant_id} expired ${-lag} ms before its deadline`);
      assert.ok(lag < MAX_LAG_MS, `${e.grant_id} expired ${lag} ms after its deadline`);
    }
    const metrics = await ks.api<string>(null, 'GET', '/metrics');
    assert.ok((metricValue(metrics.text, 'keyshift_expiry_lag_seconds_count') ?? 0) >= COUNT, 'the lag histogram saw every expiry');
  });

  it('an extended grant is not expired at its old deadline, and expires on time at the new one', async (t) => {
    // A companion ending at the same moment makes the worker wake at the old deadline.
    const [extended, companion] = await Promise.all([request('alice', 'extendable', '3s'), request('bob', 'extendable', '3s')]);
    const oldEnd = Date.parse(extended.ends_at!);
    const ext = await ks.api<{ grant: Grant }>('alice', 'POST', `/api/v1/grants/${extended.id}/extend`, { duration: '4s', reason: 'still digging' });
    assert.equal(ext.status, 200, ext.text);
    const newEnd = Date.parse(ext.body.grant.ends_at!);
    assert.equal(newEnd - oldEnd, 4000);
    assert.ok(Date.now() < oldEnd, 'the extension came after the old deadline; nothing to prove');

    await waitFor(`companion ${companion.id} to expire at the old deadline`, async () => (await grantNow(companion.id)).state === 'expired', { timeoutMs: oldEnd - Date.now() + 10_000 });
    // Past the old deadline by more than the allowed lag: the worker has woken and passed it by.
    await waitFor('the old deadline + 1.5 s', () => Date.now() > oldEnd + MAX_LAG_MS, { timeoutMs: 10_000 });
    assert.ok(Date.now() < newEnd - 500, 'too slow to look between the deadlines');
    const between = await grantNow(extended.id);
    assert.equal(between.state, 'active', `extended grant is ${between.state} between its old and new deadline`);
    assert.equal(between.ends_at, new Date(newEnd).toISOString());

    await waitFor(`grant ${extended.id} to expire at the new deadline`, async () => (await grantNow(extended.id)).state === 'expired', { timeoutMs: newEnd - Date.now() + 10_000 });
    const e = await expiredEvent(extended.id);
    assert.ok(e, 'no grant.expired event');
    const lag = e.details.lag_ms as number;
    t.diagnostic(`extended grant expired ${lag} ms after its new deadline`);
    assert.equal(e.details.ends_at, new Date(newEnd).toISOString());
    assert.ok(lag >= 0 && lag < MAX_LAG_MS, `lag ${lag} ms`);
  });
});
