/**
 * The webhook connector against the local receiver in test/fakes/webhook-receiver.ts, plus
 * the signature scheme both sides share.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { context, runConnectorConformance } from '../../src/connectors/testing/conformance.ts';
import { signWebhook, verifyWebhookSignature, webhookConnectorModule } from '../../src/connectors/webhook/webhook-connector.ts';
import type { Connector, ConnectorModule, IssuedCredentials } from '../../src/connectors/connector.ts';
import { KeyshiftError } from '../../src/core/errors.ts';
import { systemClock } from '../../src/core/clock.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../fakes/webhook-receiver.ts';

const SECRET = 'whsec-' + randomBytes(16).toString('hex');
const moduleUnderTest: ConnectorModule = webhookConnectorModule;
const deps = { clock: systemClock, baseDir: process.cwd(), log: () => undefined };

let receiver: WebhookReceiver | undefined;
async function theReceiver(): Promise<WebhookReceiver> {
  receiver ??= await startWebhookReceiver({ secret: SECRET });
  return receiver;
}
after(async () => {
  await receiver?.close();
});

function makeConnector(overrides: Record<string, unknown> = {}): Connector {
  const parsed = moduleUnderTest.configSchema.safeParse({ url: receiver!.url, secret: SECRET, retry_delay: 20, timeout: '2s', ...overrides });
  assert.ok(parsed.success, 'config rejected: ' + JSON.stringify(!parsed.success && parsed.error.issues));
  return moduleUnderTest.create('test-hook', parsed.data, deps);
}

const ACCESS = { rights: ['read'] };

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${receiver!.base}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

async function loginWith(creds: IssuedCredentials) {
  const res = await post('/login', { token: creds.secret.token });
  if (res.status !== 200) throw new Error(`login refused (${res.status})`);
  const { session } = (await res.json()) as { session: string };
  const use = async (right: string) => (await post('/use', { session, right })).status === 200;
  return {
    canUseGranted: () => use('read'),
    canUseUngranted: () => use('delete'),
    isAlive: async () => (await fetch(`${receiver!.base}/sessions/${session}`)).status === 200,
    close: async () => undefined,
  };
}

async function expectError(p: Promise<unknown>, code: string): Promise<KeyshiftError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof KeyshiftError, `not a KeyshiftError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

runConnectorConformance('webhook', {
  async connector() {
    await theReceiver();
    return makeConnector();
  },
  access: ACCESS,
  credentialsInput: async () => ({}),
  login: (creds) => loginWith(creds),
  async dropByHand(ctx) {
    receiver!.dropAccount(ctx.grantId);
  },
  capabilities: {
    cutsLiveSessions: true,
    targetGuard: true, // the receiver refuses tokens and sessions past ends_at
    reissueInvalidatesEarlier: true,
    granteeReachesTarget: true,
  },
});

describe('webhook signatures', () => {
  const body = '{"event":"grant","grant_id":"grt_1"}';
  const now = new Date('2026-03-01T12:00:00Z');
  const ts = Math.floor(now.getTime() / 1000);

  it('a correctly signed body within the window verifies', () => {
    assert.deepEqual(verifyWebhookSignature({ secret: SECRET, timestamp: String(ts), signature: signWebhook(SECRET, ts, body), rawBody: body, now }), { ok: true });
    assert.deepEqual(verifyWebhookSignature({ secret: SECRET, timestamp: ts - 300, signature: signWebhook(SECRET, ts - 300, body), rawBody: Buffer.from(body), now }), { ok: true });
  });

  it('the signature is hex HMAC-SHA256 over "<timestamp>.<body>"', () => {
    // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac key
    assert.equal(signWebhook('key', 1700000000, '{}'), 'v1=' + '9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae');
  });

  it('a tampered body, a wrong secret, an old or a future timestamp, or a malformed header is rejected', () => {
    const sig = signWebhook(SECRET, ts, body);
    const v = (o: Partial<Parameters<typeof verifyWebhookSignature>[0]>) =>
      verifyWebhookSignature({ secret: SECRET, timestamp: ts, signature: sig, rawBody: body, now, ...o });
    assert.deepEqual(v({ rawBody: body.replace('grt_1', 'grt_2') }), { ok: false, reason: 'mismatch' });
    assert.deepEqual(v({ secret: SECRET + 'x' }), { ok: false, reason: 'mismatch' });
    assert.deepEqual(v({ now: new Date(now.getTime() + 301_000) }), { ok: false, reason: 'stale' });
    assert.deepEqual(v({ now: new Date(now.getTime() - 301_000) }), { ok: false, reason: 'future' });
    assert.deepEqual(v({ timestamp: ts + 1 }), { ok: false, reason: 'mismatch' });
    for (const bad of ['', sig.slice(3), 'v0=' + sig.slice(3), sig + 'ab', sig.toUpperCase(), undefined]) {
      assert.equal(v({ signature: bad }).ok, false, String(bad));
    }
    assert.deepEqual(v({ timestamp: '12e3' }), { ok: false, reason: 'malformed' });
  });
});

describe('webhook connector behaviour', () => {
  let c: Connector;
  before(async () => {
    await theReceiver();
    c = makeConnector();
  });

  /** A signed hook request exactly as the connector would send it, for tampering. */
  function signed(payload: object, opts: { secret?: string; ts?: number; key?: string } = {}) {
    const key = opts.key ?? `grt_x${randomBytes(4).toString('hex')}:grant`;
    const raw = JSON.stringify({ ...payload, idempotency_key: key });
    const ts = opts.ts ?? Math.floor(Date.now() / 1000);
    return {
      raw,
      headers: {
        'Content-Type': 'application/json',
        'Keyshift-Timestamp': String(ts),
        'Keyshift-Signature': signWebhook(opts.secret ?? SECRET, ts, raw),
        'Idempotency-Key': key,
      },
    };
  }
  const sendRaw = (headers: Record<string, string>, body: string) => fetch(receiver!.url, { method: 'POST', headers, body });
  const grantPayload = () => ({ event: 'grant', grant_id: 'grt_raw' + randomBytes(4).toString('hex'), grantee: 'a@b.c', profile: 'p', access: ACCESS, ends_at: new Date(Date.now() + 60_000).toISOString() });

  it('the receiver rejects a tampered body, a wrong secret, an old or a future timestamp, and an exact replay', async () => {
    const ok = signed(grantPayload());
    assert.equal((await sendRaw(ok.headers, ok.raw)).status, 200);
    assert.equal((await sendRaw(ok.headers, ok.raw)).status, 409, 'replay accepted');
    const tampered = signed(grantPayload());
    assert.equal((await sendRaw(tampered.headers, tampered.raw.replace('a@b.c', 'evil@b.c'))).status, 401);
    const wrong = signed(grantPayload(), { secret: 'not-the-secret-at-all' });
    assert.equal((await sendRaw(wrong.headers, wrong.raw)).status, 401);
    const old = signed(grantPayload(), { ts: Math.floor(Date.now() / 1000) - 301 });
    assert.equal((await sendRaw(old.headers, old.raw)).status, 401);
    const future = signed(grantPayload(), { ts: Math.floor(Date.now() / 1000) + 301 });
    assert.equal((await sendRaw(future.headers, future.raw)).status, 401);
    const swapped = signed(grantPayload());
    assert.equal((await sendRaw({ ...swapped.headers, 'Idempotency-Key': 'grt_other:grant' }, swapped.raw)).status, 400, 'unsigned key swap accepted');
  });

  it('every call is signed and keyed as documented', async () => {
    const from = receiver!.requests.length;
    let ctx = context(ACCESS);
    ctx = { ...ctx, state: await c.grant(ctx) };
    const creds = await c.issueCredentials(ctx, {});
    ctx = { ...ctx, state: creds.state };
    ctx = { ...ctx, state: (await c.extend({ ...ctx, endsAt: new Date(ctx.endsAt.getTime() + 60_000) })).state };
    await c.revoke(ctx, { early: true });
    const seen = receiver!.requests.slice(from);
    assert.deepEqual(seen.map((r) => r.headers.idempotencyKey), [
      `${ctx.grantId}:grant`, `${ctx.grantId}:credentials:1`, `${ctx.grantId}:extend:1`, `${ctx.grantId}:revoke`,
    ]);
    assert.deepEqual(seen.map((r) => r.status), [200, 200, 200, 200]);
    const revoke = JSON.parse(seen[3]!.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(revoke).sort(), ['access', 'early', 'ends_at', 'event', 'grant_id', 'grantee', 'idempotency_key', 'profile']);
    assert.equal(revoke.early, true);
    assert.equal(revoke.idempotency_key, `${ctx.grantId}:revoke`);
  });

  it('transient 503s and 429s are retried with the same Idempotency-Key until they succeed', async () => {
    const from = receiver!.requests.length;
    const ctx = context(ACCESS);
    receiver!.failNext(2, 503);
    receiver!.failNext(1, 429);
    await c.grant(ctx);
    const seen = receiver!.requests.slice(from);
    assert.deepEqual(seen.map((r) => r.status), [503, 503, 429, 200]);
    assert.ok(seen.every((r) => r.headers.idempotencyKey === `${ctx.grantId}:grant`));
    assert.equal(new Set(seen.map((r) => r.headers.timestamp)).size, seen.length, 'a retry reused a timestamp (the receiver would see a replay)');
    assert.ok(receiver!.accounts.has(ctx.grantId));
    await c.revoke({ ...ctx, state: {} }, { early: true });
  });

  it('a 4xx refusal is not retried and is CONNECTOR_FAILED', async () => {
    const from = receiver!.requests.length;
    receiver!.failNext(1, 400, '{"error":"bad access"}');
    const e = await expectError(c.grant(context(ACCESS)), 'CONNECTOR_FAILED');
    assert.match(e.message, /400/);
    assert.equal(receiver!.requests.length - from, 1);
  });

  it('credentials for a grant the receiver does not know are CONNECTOR_FAILED', async () => {
    await expectError(c.issueCredentials(context(ACCESS), {}), 'CONNECTOR_FAILED');
  });

  it('persistent 5xx ends as CONNECTOR_UNAVAILABLE after the configured retries', async () => {
    const from = receiver!.requests.length;
    const two = makeConnector({ retries: 2 });
    receiver!.failNext(3, 502);
    const e = await expectError(two.grant(context(ACCESS)), 'CONNECTOR_UNAVAILABLE');
    assert.equal(e.retryable, true);
    assert.equal(receiver!.requests.length - from, 3);
  });

  it('a receiver that is down is CONNECTOR_UNAVAILABLE, and calls work again once it is back', async () => {
    await receiver!.down();
    try {
      await expectError(c.grant(context(ACCESS)), 'CONNECTOR_UNAVAILABLE');
      const check = await c.check();
      assert.equal(check.ok, false);
    } finally {
      await receiver!.up();
    }
    const ctx = context(ACCESS);
    await c.grant(ctx);
    await c.revoke({ ...ctx, state: {} }, { early: true });
  });

  it('the secret never appears in error messages, even when the target echoes it', async () => {
    receiver!.failNext(1, 403, JSON.stringify({ error: `bad signature for secret ${SECRET}` }));
    const e = await expectError(c.grant(context(ACCESS)), 'CONNECTOR_FAILED');
    assert.ok(!e.message.includes(SECRET), e.message);
    receiver!.failNext(4, 500, `oops ${SECRET}`);
    const e2 = await expectError(c.grant(context(ACCESS)), 'CONNECTOR_UNAVAILABLE');
    assert.ok(!e2.message.includes(SECRET), e2.message);
    const parsed = moduleUnderTest.configSchema.safeParse({ url: 'ftp://x', secret: SECRET, extra: true });
    assert.equal(parsed.success, false);
    assert.ok(!JSON.stringify(parsed.error?.issues).includes(SECRET));
  });

  it('credentials never outlive the grant, whatever expiry the target claims', async () => {
    let ctx = context(ACCESS, { endsAt: new Date(Date.now() + 60_000) });
    ctx = { ...ctx, state: await c.grant(ctx) };
    receiver!.accounts.get(ctx.grantId)!.endsAt = Date.now() + 3_600_000; // the target is wrong
    const creds = await c.issueCredentials(ctx, {});
    assert.equal(creds.kind, 'webhook');
    assert.equal(creds.expires_at, ctx.endsAt.toISOString());
    assert.equal(typeof creds.secret.token, 'string');
    await c.revoke({ ...ctx, state: creds.state }, { early: true });
  });

  it('config takes timeout as milliseconds or a duration, and rejects short secrets', () => {
    const ok = (v: unknown) => moduleUnderTest.configSchema.safeParse(v).success;
    const parsed = webhookConnectorModule.configSchema.safeParse({ url: 'https://hooks.example.com/k', secret: SECRET });
    assert.ok(parsed.success);
    assert.equal(parsed.data.timeout, 10_000);
    assert.equal(parsed.data.retries, 3);
    const thirty = webhookConnectorModule.configSchema.safeParse({ url: 'https://h/k', secret: SECRET, timeout: '30s' });
    assert.equal(thirty.success && thirty.data.timeout, 30_000);
    assert.equal(ok({ url: 'https://h/k', secret: 'short' }), false);
    assert.equal(ok({ url: 'https://h/k', secret: SECRET, timeout: 'soon' }), false);
    assert.equal(ok({ url: 'https://h/k', secret: SECRET, retries: -1 }), false);
  });
});
