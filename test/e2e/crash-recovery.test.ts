/**
 * `kill -9` proof: `keyshift serve` (SQLite, a temp dir) is killed with SIGKILL while
 * grants are live, stays down past their deadlines, and is started again on the same
 * config and data. No access may outlive its grant: the grants that ended during the
 * downtime are expired at boot, before /readyz answers, and work that the crash cut short
 * (a revocation, an activation) is finished.
 *
 * The `revoking` and `activating` states are made by editing the SQLite file while the
 * server is down, which is what a crash between "claim" and "record" leaves behind. The
 * `activating` grant is an active one set back, so it has an earlier grant.activated
 * event too; the test looks at the one written at boot.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { AuditEvent, Grant } from '../../src/core/model.ts';
import { Cleanup, api, cleanEnv, editConfig, freePort, parseJsonOutput, runCli, setServerPort, spawnServer, waitFor, type InitResult, type ServerProcess, tokenFor } from './helpers.ts';

const SHORT_SECONDS = 3;

const cleanup = new Cleanup();
let dir: string;
let configPath: string;
let url: string;
let tokens: { alice: string; bob: string; carol: string };
let first: ServerProcess;
/** The server that is up now, once the restart happened. */
let current: ServerProcess | undefined;

before(async () => {
  dir = cleanup.tempDir('crash');
  configPath = join(dir, 'keyshift.yaml');
  const initArgs = ['init', '--config', configPath, '--json'];
  const init = await runCli(initArgs, { cwd: dir, env: cleanEnv(dir) });
  assert.equal(init.code, 0, init.stderr);
  const result = parseJsonOutput<InitResult>(initArgs, init);
  tokens = { alice: tokenFor(result, 'alice@example.com'), bob: tokenFor(result, 'bob@example.com'), carol: tokenFor(result, 'carol@example.com') };
  // A profile without approval rules, so grants start with one API call.
  editConfig(configPath, (doc) => {
    doc.setIn(['profiles', 'logs'], doc.createNode({
      description: 'Read logs, no approval',
      connector: 'hosts',
      access: { principals: ['logs'] },
      duration: { default: '30m', max: '2h' },
      requesters: ['group:engineering'],
    }));
  });
  url = setServerPort(configPath, await freePort());
  first = spawnServer({ configPath, url, cwd: dir, home: dir, cleanup });
  await first.waitReady();
});

after(async () => {
  await cleanup.run();
});

async function grantOf(token: string, profile: string, duration: string): Promise<Grant> {
  const res = await api<{ grant: Grant | null }>(url, token, 'POST', '/api/v1/requests', { profile, duration, reason: 'crash drill' });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.body.grant?.state, 'active', res.text);
  return res.body.grant!;
}

describe('keyshift serve killed with SIGKILL and started again', () => {
  let short: Grant[];
  let toRevoke: Grant;
  let toActivate: Grant;
  let killedAt: number;
  let restartedAt: number;
  let readyAt: number;
  let second: ServerProcess;

  it('the server dies at once with four live grants, two of them ending 3 s later', async () => {
    short = [await grantOf(tokens.alice, 'logs', `${SHORT_SECONDS}s`), await grantOf(tokens.bob, 'logs', `${SHORT_SECONDS}s`)];
    toRevoke = await grantOf(tokens.alice, 'host-shell-readonly', '10m');
    toActivate = await grantOf(tokens.bob, 'host-shell-readonly', '10m');
    killedAt = Date.now();
    await first.kill9();
    assert.equal(first.child.signalCode, 'SIGKILL');
    for (const g of short) assert.ok(Date.parse(g.ends_at!) > killedAt, `${g.id} ended before the kill; the crash proves nothing`);
  });

  it('a restart after the deadlines answers /readyz only once the grants that ended while it was down are expired', async () => {
    const latestEnd = Math.max(...short.map((g) => Date.parse(g.ends_at!)));
    await waitFor('the short grants deadlines to pass by 2 s', () => Date.now() > latestEnd + 2000, { timeoutMs: 20_000 });

    // What a crash mid-revocation and mid-activation leaves behind.
    const db = new Database(join(dir, 'data', 'keyshift.db'));
    try {
      const past = new Date(Date.now() - 60_000).toISOString();
      db.prepare(`UPDATE grants SET state = 'revoking', ending = 'revoked', ended_by = 'carol@example.com', end_reason = 'crash drill revoke', revoke_attempts = 0, next_attempt_at = ? WHERE id = ?`).run(past, toRevoke.id);
      db.prepare(`UPDATE grants SET state = 'activating', activated_at = NULL, ends_at = NULL WHERE id = ?`).run(toActivate.id);
    } finally {
      db.close();
    }

    restartedAt = Date.now();
    second = spawnServer({ configPath, url, cwd: dir, home: dir, cleanup });
    current = second;
    await second.waitReady();
    readyAt = Date.now();

    const res = await api<{ items: Grant[] }>(url, tokens.carol, 'GET', '/api/v1/grants?all=true');
    assert.equal(res.status, 200, res.text);
    for (const g of short) {
      const now = res.body.items.find((x) => x.id === g.id);
      assert.equal(now?.state, 'expired', `${g.id} is ${now?.state} right after /readyz`);
      assert.equal(now.ended_by, 'system:expiry');
    }
  });

  it('each expiry is a grant.expired event by system:expiry written before /readyz answered, whose lag_ms shows the downtime', async (t) => {
    const res = await api<{ items: AuditEvent[] }>(url, tokens.carol, 'GET', '/api/v1/audit?action=grant.expired');
    assert.equal(res.status, 200, res.text);
    for (const g of short) {
      const events = res.body.items.filter((e) => e.grant_id === g.id);
      assert.equal(events.length, 1, `grant.expired events for ${g.id}: ${events.length}`);
      const e = events[0]!;
      assert.equal(e.actor, 'system:expiry');
      assert.ok(Date.parse(e.time) <= readyAt, `expired at ${e.time}, after /readyz answered at ${new Date(readyAt).toISOString()}`);
      const lag = e.details.lag_ms as number;
      const endsAt = Date.parse(g.ends_at!);
      t.diagnostic(`crash: ${g.id} expired at boot, lag_ms ${lag} (server down for ${restartedAt - killedAt} ms)`);
      assert.equal(typeof lag, 'number');
      assert.ok(lag >= restartedAt - endsAt, `lag_ms ${lag} is shorter than the time the server was down past the deadline (${restartedAt - endsAt} ms)`);
      assert.ok(lag <= readyAt - endsAt, `lag_ms ${lag} is longer than deadline → ready (${readyAt - endsAt} ms)`);
      assert.equal(e.details.ends_at, g.ends_at);
    }
  });

  it('a grant left revoking by the crash is revoked at boot, with its grant.revoked event', async () => {
    const g = await api<Grant>(url, tokens.carol, 'GET', `/api/v1/grants/${toRevoke.id}`);
    assert.equal(g.body.state, 'revoked', g.text);
    assert.ok(Date.parse(g.body.ended_at!) <= readyAt);
    assert.equal(g.body.connector_state['revoked_at'] !== undefined, true, 'the SSH connector did not record the revocation');
    const audit = await api<{ items: AuditEvent[] }>(url, tokens.carol, 'GET', `/api/v1/audit?grant=${toRevoke.id}`);
    const revoked = audit.body.items.filter((e) => e.action === 'grant.revoked');
    assert.equal(revoked.length, 1, JSON.stringify(audit.body.items.map((e) => e.action)));
    assert.equal(revoked[0]!.actor, 'carol@example.com');
    assert.equal(revoked[0]!.reason, 'crash drill revoke');
  });

  it('a grant left activating by the crash is activated at boot, its clock starting then', async () => {
    const g = await api<Grant>(url, tokens.carol, 'GET', `/api/v1/grants/${toActivate.id}`);
    assert.equal(g.body.state, 'active', g.text);
    const activatedAt = Date.parse(g.body.activated_at!);
    assert.ok(activatedAt >= restartedAt && activatedAt <= readyAt, `activated_at ${g.body.activated_at} is not during the restart`);
    assert.equal(Date.parse(g.body.ends_at!) - activatedAt, 600_000);
    const audit = await api<{ items: AuditEvent[] }>(url, tokens.carol, 'GET', `/api/v1/audit?grant=${toActivate.id}&action=grant.activated`);
    const atBoot = audit.body.items.filter((e) => Date.parse(e.time) >= restartedAt);
    assert.equal(atBoot.length, 1);
    assert.equal(atBoot[0]!.actor, 'system:activator');
  });

  it('the audit chain is intact after the crash and the restart, and says the config was loaded twice', async () => {
    const verify = await api<{ ok: boolean; checked: number }>(url, tokens.carol, 'GET', '/api/v1/audit/verify');
    assert.equal(verify.status, 200);
    assert.equal(verify.body.ok, true, verify.text);
    const loaded = await api<{ items: AuditEvent[] }>(url, tokens.carol, 'GET', '/api/v1/audit?action=config.loaded');
    assert.equal(loaded.body.items.length, 2);
    const r = await runCli(['audit', 'verify'], { cwd: dir, env: cleanEnv(dir, { KEYSHIFT_SERVER: url, KEYSHIFT_TOKEN: tokens.carol }) });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});

describe('keyshift serve diagnostics', () => {
  it(
    'an internal error is written to the server log under the request ID the client was given',
    async () => {
      const server = await waitFor('a running server', () => current);
      // A failing query is the simplest honest internal error: the grants table goes away.
      const db = new Database(join(dir, 'data', 'keyshift.db'));
      let res;
      try {
        db.exec('ALTER TABLE grants RENAME TO grants_hidden');
        res = await api<{ error: { code: string; request_id: string } }>(url, tokens.carol, 'GET', '/api/v1/grants?all=true');
      } finally {
        db.exec('ALTER TABLE grants_hidden RENAME TO grants');
        db.close();
      }
      assert.equal(res.status, 500, res.text);
      assert.equal(res.body.error.code, 'INTERNAL');
      const id = res.body.error.request_id;
      await waitFor(`the server log to mention request ${id}`, () => server.logs().includes(id), { timeoutMs: 3000 });
    },
  );
});
