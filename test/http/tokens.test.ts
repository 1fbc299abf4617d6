import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKeyshift } from '../harness/keyshift.ts';
import type { TestServer } from '../harness/keyshift.ts';
import { revokeTokenOffline } from '../../src/main.ts';

interface TokenInfo {
  id: string;
  user: string;
  revoked_at: string | null;
}

describe('token list and revoke', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startKeyshift();
  });
  after(async () => {
    await srv?.close();
  });

  const create = async (user: string) => (await srv.api<{ id: string; token: string }>('carol', 'POST', '/api/v1/tokens', { user, ttl: '1d', label: 'laptop' })).body;

  it('lists tokens without any secret or hash: admins all, others their own', async () => {
    await create('alice@example.com');
    const mine = await srv.api<{ items: TokenInfo[] }>('alice', 'GET', '/api/v1/tokens');
    assert.equal(mine.status, 200);
    assert.ok(mine.body.items.length >= 2);
    assert.ok(mine.body.items.every((t) => t.user === 'alice@example.com'));
    assert.doesNotMatch(mine.text, /token_hash|ks_[A-Za-z0-9_-]{43}/);
    const all = await srv.api<{ items: TokenInfo[] }>('carol', 'GET', '/api/v1/tokens');
    assert.ok(new Set(all.body.items.map((t) => t.user)).size > 1);
  });

  it('a revoked token stops working at once, with an auth.token_revoked event', async () => {
    const t = await create('alice@example.com');
    assert.equal((await srv.api({ token: t.token }, 'GET', '/api/v1/me')).status, 200);
    const res = await srv.api<TokenInfo>('alice', 'POST', `/api/v1/tokens/${t.id}/revoke`, {});
    assert.equal(res.status, 200);
    assert.ok(res.body.revoked_at);
    const after = await srv.api<{ error: { code: string } }>({ token: t.token }, 'GET', '/api/v1/me');
    assert.equal(after.status, 401);
    assert.equal(after.body.error.code, 'UNAUTHENTICATED');
    const events = await srv.api<{ items: Array<{ action: string; details: { token_id?: string } }> }>('carol', 'GET', '/api/v1/audit?action=auth.token_revoked');
    assert.ok(events.body.items.some((e) => e.details.token_id === t.id));
    const again = await srv.api<{ error: { code: string } }>('alice', 'POST', `/api/v1/tokens/${t.id}/revoke`, {});
    assert.equal(again.body.error.code, 'CONFLICT');
  });

  it("another user's token is NOT_FOUND for a non-admin, and nothing changes", async () => {
    const t = await create('bob@example.com');
    const res = await srv.api<{ error: { code: string } }>('mallory', 'POST', `/api/v1/tokens/${t.id}/revoke`, {});
    assert.equal(res.status, 404);
    assert.equal((await srv.api({ token: t.token }, 'GET', '/api/v1/me')).status, 200);
  });

  it('a malformed token ID is NOT_FOUND', async () => {
    const res = await srv.api<{ error: { code: string } }>('carol', 'POST', '/api/v1/tokens/../../etc/revoke', {});
    assert.equal(res.status, 404);
  });

  it('an operator on the server host can revoke any token offline through the config', async () => {
    const t = await create('carol@example.com');
    const revoked = await revokeTokenOffline({ configPath: srv.configPath, id: t.id });
    assert.ok(revoked.revoked_at);
    assert.equal((await srv.api({ token: t.token }, 'GET', '/api/v1/me')).status, 401);
  });
});
