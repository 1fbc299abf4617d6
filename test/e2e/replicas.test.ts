/**
 * Several Keyshift replicas on one PostgreSQL database: any replica serves the API, one
 * (the lease holder) runs the expiry worker, and another takes over when it dies.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeyshift } from '../harness/keyshift.ts';
import type { TestServer } from '../harness/keyshift.ts';
import { createTestDatabase } from '../harness/postgres.ts';
import type { Grant } from '../../src/core/model.ts';

const profiles = {
  logs: {
    description: 'no approval',
    connector: 'hosts',
    access: { principals: ['logs'] },
    duration: { default: '30m', max: '2h' },
    requesters: ['group:engineering'],
  },
};

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('replicas on PostgreSQL', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: TestServer;
  let b: TestServer;

  before(async () => {
    db = await createTestDatabase();
    a = await startKeyshift({ storage: 'postgres', storageUrl: db.url, profiles, leaseSeconds: 3 });
    b = await startKeyshift({ storage: 'postgres', storageUrl: db.url, profiles, leaseSeconds: 3 });
  });

  after(async () => {
    await b?.close().catch(() => undefined);
    await a?.close().catch(() => undefined);
    await db?.drop();
  });

  it('a grant made through one replica is visible and usable through the other', async () => {
    const res = await a.api<{ grant: Grant }>('alice', 'POST', '/api/v1/requests', { profile: 'logs', duration: '10m', reason: 'look' });
    assert.equal(res.status, 201);
    const seen = await b.api<Grant>('alice', 'GET', `/api/v1/grants/${res.body.grant.id}`);
    assert.equal(seen.body.state, 'active');
    const released = await b.api<{ grant: Grant }>('alice', 'POST', `/api/v1/grants/${res.body.grant.id}/release`, {});
    assert.equal(released.body.grant.state, 'released');
  });

  it('one replica holds the worker lease; when it stops, the other expires grants', async () => {
    // The tokens of replica a are in the shared database, so they work on b too.
    const res = await b.api<{ grant: Grant }>('bob', 'POST', '/api/v1/requests', { profile: 'logs', duration: '4s', reason: 'short' });
    assert.equal(res.status, 201);
    const id = res.body.grant.id;
    // Stop the replica that started first: it took the lease at boot.
    await a.close();
    const expired = await until('expiry by the surviving replica', async () => {
      const g = await b.api<Grant>('bob', 'GET', `/api/v1/grants/${id}`);
      return g.body.state === 'expired' ? g.body : null;
    });
    const events = await b.api<{ items: Array<{ action: string; actor: string; details: { lag_ms?: number } }> }>('carol', 'GET', `/api/v1/audit?grant=${id}`);
    const ev = events.body.items.find((e) => e.action === 'grant.expired');
    assert.ok(ev, 'grant.expired recorded');
    assert.equal(ev!.actor, 'system:expiry');
    // Take-over waits for the old lease (3 s) at most, plus one worker wake-up.
    assert.ok((ev!.details.lag_ms ?? 0) < 6000, `lag ${ev!.details.lag_ms} ms`);
    assert.equal(expired.state, 'expired');
    const verify = await b.api<{ ok: boolean }>('carol', 'GET', '/api/v1/audit/verify');
    assert.equal(verify.body.ok, true);
  });
});
