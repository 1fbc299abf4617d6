/**
 * A target that is down when access must be removed: a `webhook` connector pointing at
 * the local receiver (test/fakes/webhook-receiver.ts). Releasing the grant while the
 * receiver is down leaves it `revoking` (API, metric, one grant.revoke_failed event); the
 * worker keeps retrying with backoff, without limit, and completes the release once the
 * receiver is back.
 *
 * The connector is configured with `retries: 0` so one worker attempt is one HTTP call,
 * which makes the attempt count in the grant the number of times the target was tried.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startKeyshift, type TestServer } from '../harness/keyshift.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';
import type { AuditEvent, Grant } from '../../src/core/model.ts';
import { revokeBackoffSeconds } from '../../src/core/grant-service.ts';
import { Cleanup, metricValue, waitFor } from './helpers.ts';

const SECRET = 'whsec-' + randomBytes(16).toString('hex');
/** Failed attempts before the receiver comes back. */
const FAILURES = 4;

const cleanup = new Cleanup();
let receiver: WebhookReceiver;
let ks: TestServer;

before(async () => {
  receiver = await startWebhookReceiver({ secret: SECRET });
  cleanup.add('close webhook receiver', () => receiver.close());
  ks = await startKeyshift({
    connectors: { hook: { type: 'webhook', url: receiver.url, secret: '${env:E2E_HOOK_SECRET}', retries: 0, timeout: '2s' } },
    profiles: {
      'hook-read': {
        description: 'Read through the custom target, no approval',
        connector: 'hook',
        access: { rights: ['read'] },
        duration: { default: '30m', max: '2h' },
        requesters: ['group:engineering'],
      },
    },
    env: { ...process.env, E2E_HOOK_SECRET: SECRET },
  });
  cleanup.add('close keyshift', () => ks.close());
});

after(async () => {
  await cleanup.run();
});

async function grant(id: string): Promise<Grant> {
  const res = await ks.api<Grant>('alice', 'GET', `/api/v1/grants/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

async function revokingGauge(): Promise<number | null> {
  return metricValue((await ks.api<string>(null, 'GET', '/metrics')).text, 'keyshift_grants_revoking');
}

async function eventsFor(id: string): Promise<AuditEvent[]> {
  const res = await ks.api<{ items: AuditEvent[] }>('carol', 'GET', `/api/v1/audit?grant=${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body.items;
}

describe('releasing a grant while its target is down', () => {
  let id: string;

  it('a grant on the webhook target is provisioned there', async () => {
    const res = await ks.api<{ grant: Grant | null }>('alice', 'POST', '/api/v1/requests', { profile: 'hook-read', duration: '30m' });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.grant?.state, 'active', res.text);
    id = res.body.grant.id;
    assert.ok(receiver.accounts.has(id), 'the receiver holds no account for the grant');
  });

  it('release with the receiver down leaves the grant revoking, counted in keyshift_grants_revoking, with one grant.revoke_failed event', async () => {
    await receiver.down();
    const res = await ks.api<{ grant: Grant }>('alice', 'POST', `/api/v1/grants/${id}/release`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.grant.state, 'revoking');
    assert.equal(res.body.grant.ending, 'released');

    const g = await grant(id);
    assert.equal(g.state, 'revoking');
    assert.ok(g.revoke_attempts >= 1);
    assert.ok(g.last_error && /could not reach|CONNECTOR|webhook/i.test(g.last_error), `last_error: ${g.last_error}`);
    assert.ok(!g.last_error.includes(SECRET), 'the secret leaked into last_error');
    assert.ok(g.next_attempt_at, 'no retry planned');
    assert.equal(await revokingGauge(), 1);
    const failed = (await eventsFor(id)).filter((e) => e.action === 'grant.revoke_failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]!.actor, 'system:revoker');
    assert.equal(failed[0]!.details.ending, 'released');
  });

  it(`the worker keeps retrying with growing backoff while the target stays down (${FAILURES} failed attempts) and logs the failure only once`, async () => {
    // Backoff 1 s, 2 s, 4 s: the fourth attempt is due about 7 s after the first.
    const expected = Array.from({ length: FAILURES - 1 }, (_, i) => revokeBackoffSeconds(i + 1)).reduce((a, b) => a + b, 0);
    const g = await waitFor(`${FAILURES} failed revocation attempts`, async () => {
      const now = await grant(id);
      return now.revoke_attempts >= FAILURES ? now : undefined;
    }, { timeoutMs: expected * 1000 + 15_000, intervalMs: 200 });
    assert.equal(g.state, 'revoking');
    assert.equal(g.revoke_attempts, FAILURES);
    const wait = Date.parse(g.next_attempt_at!) - Date.parse(new Date().toISOString());
    assert.ok(wait > (revokeBackoffSeconds(FAILURES) - 2) * 1000, `next attempt in ${wait} ms, backoff not growing`);
    assert.equal((await eventsFor(id)).filter((e) => e.action === 'grant.revoke_failed').length, 1);
    assert.equal(await revokingGauge(), 1);
    assert.ok(receiver.accounts.has(id), 'the account is still at the target, as it should be while revoking');
  });

  it('once the receiver is back the worker completes the release within the backoff, with no one acting', async (t) => {
    const before = await grant(id);
    const due = Date.parse(before.next_attempt_at!);
    await receiver.up();
    const done = await waitFor('the release to complete', async () => {
      const now = await grant(id);
      return now.state === 'released' ? now : undefined;
    }, { timeoutMs: due - Date.now() + 15_000, intervalMs: 100 });
    const late = Date.parse(done.ended_at!) - due;
    t.diagnostic(`release completed ${late} ms after the planned retry, attempt ${FAILURES + 1}`);
    assert.ok(late < 2000, `completed ${late} ms after its planned retry`);
    assert.equal(done.last_error, null);
    assert.equal(done.next_attempt_at, null);
    assert.ok(!receiver.accounts.has(id), 'the account is still at the target');
    assert.equal(await revokingGauge(), 0);

    const events = await eventsFor(id);
    const released = events.filter((e) => e.action === 'grant.released');
    assert.equal(released.length, 1);
    assert.equal(released[0]!.actor, 'alice@example.com');
    assert.equal(released[0]!.details.attempts, FAILURES + 1);
    assert.deepEqual(events.map((e) => e.action).slice(-2), ['grant.revoke_failed', 'grant.released']);
    const verify = await ks.api<{ ok: boolean }>('carol', 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.ok, true);
  });
});
