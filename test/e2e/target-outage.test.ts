/**
 * A PostgreSQL target that is down: the real Keyshift server (HTTP, SQLite storage, expiry
 * worker) and a throwaway scram-sha-256 PostgreSQL 15 cluster that the tests stop (fast
 * shutdown, as `pg_ctl stop -m fast`) and start again on the same data dir and port.
 *
 * - Down at revoke time: the grant stays `revoking` (API, `keyshift_grants_revoking`, one
 *   grant.revoke_failed event), the worker retries with backoff (1 s doubling to 60 s)
 *   and finishes the job on its own once the server is back.
 * - Down at the deadline: the grant is `revoking` towards `expired` until the server is
 *   back; the role's VALID UNTIL refuses logins in the meantime.
 * - Down at grant time: the grant is `failed` with a scrubbed reason and no role is left.
 *
 * The admin URL reaches the config only as `${env:NAME}`. Describes share the cluster and
 * run in order; each leaves the cluster running. Waits poll against deadlines.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startKeyshift, type TestServer } from '../harness/keyshift.ts';
import { prepareDatabase, startPg15, type ClusterDatabase, type RestartableCluster } from '../harness/pg-cluster.ts';
import type { AuditEvent, Grant } from '../../src/core/model.ts';
import { revokeBackoffSeconds } from '../../src/core/grant-service.ts';
import { Cleanup, metricValue, waitFor } from './helpers.ts';

interface DbCredentials {
  user: string;
  password: string;
  host: string;
  port: number;
  database: string;
}

const ENV_PG = 'KS_E2E_OUTAGE_PG_ADMIN_URL';
/** Failed attempts to sit through before the server comes back: shows the backoff growing. */
const FAILURES = 3;

const cleanup = new Cleanup();
let cluster: RestartableCluster;
let pgdb: ClusterDatabase;
let ks: TestServer;
/** Everything that must never show up in last_error, the audit log or the API. */
const secrets: string[] = [];

// ---------------------------------------------------------------- helpers

async function grantOf(id: string): Promise<Grant> {
  const r = await ks.api<Grant>('alice', 'GET', `/api/v1/grants/${id}`);
  assert.equal(r.status, 200, r.text);
  for (const s of secrets) assert.ok(!r.text.includes(s), `a secret (${s.slice(0, 3)}…) in GET /grants/${id}`);
  return r.body;
}

async function requestGrant(duration: string): Promise<Grant> {
  const r = await ks.api<{ grant: Grant | null }>('alice', 'POST', '/api/v1/requests', { profile: 'db-read', duration, reason: 'e2e: target outage' });
  assert.equal(r.status, 201, r.text);
  assert.ok(r.body.grant, `no grant: ${r.text}`);
  return r.body.grant;
}

async function issue(id: string): Promise<DbCredentials> {
  const r = await ks.api<{ credentials: DbCredentials }>('alice', 'POST', `/api/v1/grants/${id}/credentials`, {});
  assert.equal(r.status, 200, r.text);
  secrets.push(r.body.credentials.password);
  return r.body.credentials;
}

async function eventsFor(id: string): Promise<AuditEvent[]> {
  const r = await ks.api<{ items: AuditEvent[] }>('carol', 'GET', `/api/v1/audit?grant=${id}`);
  assert.equal(r.status, 200, r.text);
  for (const s of secrets) assert.ok(!r.text.includes(s), `a secret (${s.slice(0, 3)}…) in the audit log`);
  return r.body.items;
}

const actions = (events: AuditEvent[], action: string) => events.filter((e) => e.action === action);

async function metrics(): Promise<string> {
  const r = await ks.api<string>(null, 'GET', '/metrics');
  assert.equal(r.status, 200, r.text);
  return r.text;
}

async function pgLogin(c: DbCredentials): Promise<pg.Client> {
  const client = new pg.Client({ host: c.host, port: c.port, user: c.user, password: c.password, database: c.database, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined); // the shutdown ends the session with 57P01
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  cleanup.add(`close a session of ${c.user}`, () => client.end().catch(() => undefined));
  return client;
}

const works = (p: Promise<unknown>) => p.then(() => true, () => false);

function assertScrubbed(text: string | null, where: string): void {
  for (const s of secrets) assert.ok(!(text ?? '').includes(s), `a secret (${s.slice(0, 3)}…) in ${where}: ${text}`);
  assert.doesNotMatch(text ?? '', /postgres(ql)?:\/\/[^@\s]*:[^*@\s][^@\s]*@/, `a URL with a password in ${where}`);
}

/** One failed attempt as the grant records it: when it ran and when the next is planned. */
interface Attempt {
  n: number;
  at: number;
  next: number;
}

/**
 * Polls the grant until it has `count` failed attempts, recording every attempt it sees.
 * An attempt's time is next_attempt_at minus its backoff (both written in one update).
 */
async function sitThroughFailures(id: string, count: number): Promise<{ grant: Grant; attempts: Attempt[] }> {
  const seen = new Map<number, Attempt>();
  const record = (g: Grant) => {
    if (g.revoke_attempts > 0 && g.next_attempt_at && !seen.has(g.revoke_attempts)) {
      const next = Date.parse(g.next_attempt_at);
      seen.set(g.revoke_attempts, { n: g.revoke_attempts, at: next - revokeBackoffSeconds(g.revoke_attempts) * 1000, next });
    }
  };
  const planned = Array.from({ length: count }, (_, i) => revokeBackoffSeconds(i + 1)).reduce((a, b) => a + b, 0);
  const grant = await waitFor(`${count} failed revocation attempts`, async () => {
    const g = await grantOf(id);
    assert.equal(g.state, 'revoking', `grant left revoking while the target is down: ${JSON.stringify(g)}`);
    record(g);
    return g.revoke_attempts >= count ? g : undefined;
  }, { timeoutMs: planned * 1000 + 15_000, intervalMs: 100 });
  return { grant, attempts: [...seen.values()].sort((a, b) => a.n - b.n) };
}

/** Each retry ran when planned (not early, not much later) and the planned gap doubled. */
function assertBackoff(t: TestContext, attempts: Attempt[], count: number): void {
  t.diagnostic(`failed attempts (ms after the first): ${attempts.map((a) => `#${a.n} +${a.at - attempts[0]!.at} (next in ${a.next - a.at})`).join(', ')}`);
  assert.ok(attempts.length >= count - 1, `saw only attempts ${attempts.map((a) => a.n).join(',')}`);
  for (const a of attempts) assert.equal(a.next - a.at, revokeBackoffSeconds(a.n) * 1000, `backoff after attempt ${a.n}`);
  for (let i = 1; i < attempts.length; i++) {
    const prev = attempts[i - 1]!;
    const cur = attempts[i]!;
    if (cur.n !== prev.n + 1) continue;
    assert.ok(cur.at >= prev.next, `attempt ${cur.n} ran ${prev.next - cur.at} ms before it was due`);
    assert.ok(cur.at - prev.next < 2000, `attempt ${cur.n} ran ${cur.at - prev.next} ms after it was due`);
    assert.ok(cur.next - cur.at > prev.next - prev.at, `backoff did not grow after attempt ${cur.n}`);
  }
}

/** Roles of a grant: by the connector's name for it, and by the comment naming it. */
async function rolesOf(grantId: string): Promise<string[]> {
  const rows = await pgdb.sql<{ rolname: string }>(
    `SELECT rolname FROM pg_roles
      WHERE rolname LIKE $1 OR coalesce(shobj_description(oid, 'pg_authid'), '') LIKE $2`,
    [`ks_${grantId.toLowerCase()}%`, `%${grantId}%`],
  );
  return rows.map((r) => r.rolname);
}

// ---------------------------------------------------------------- the suite

describe('a PostgreSQL target that is unreachable', () => {
  before(async () => {
    cluster = await startPg15();
    cleanup.add('stop the PostgreSQL cluster', () => cluster.stop());
    pgdb = await prepareDatabase(cluster, { pg16plus: false });
    secrets.push(pgdb.adminPassword, pgdb.weakPassword, cluster.superPassword);
    ks = await startKeyshift({
      env: { ...process.env, [ENV_PG]: pgdb.url('keyshift_admin', pgdb.adminPassword) },
      connectors: { pg: { type: 'postgres', url: `\${env:${ENV_PG}}` } },
      profiles: {
        'db-read': {
          description: 'Read the probe table, no approval',
          connector: 'pg',
          access: { roles: ['ks_test_readonly'] },
          duration: { default: '10m', max: '1h' },
          requesters: ['group:engineering'],
        },
      },
    });
    cleanup.add('close keyshift', () => ks.close());
  });

  after(async () => {
    await cleanup.run();
  });

  describe('the target goes down after the grant, before release', () => {
    let grant: Grant;
    let creds: DbCredentials;
    let beforeResume: Grant;

    it('a grant on the no-approval profile is active, its credentials log in and the session works', async () => {
      grant = await requestGrant('10m');
      assert.equal(grant.state, 'active');
      assert.ok(await pgdb.roleExists(String(grant.connector_state.account)), 'no role at the target');
      creds = await issue(grant.id);
      const open = await pgLogin(creds);
      assert.equal((await open.query<{ n: string }>('SELECT count(*) AS n FROM probe')).rows[0]?.n, '3');
      await cluster.halt();
      assert.equal(await works(open.query('SELECT 1')), false, 'the session survived a fast shutdown');
    });

    it('release while the target is down leaves the grant revoking, counted in keyshift_grants_revoking, with a scrubbed last_error and one grant.revoke_failed', async () => {
      const r = await ks.api<{ grant: Grant }>('alice', 'POST', `/api/v1/grants/${grant.id}/release`, {});
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.grant.state, 'revoking');
      assert.equal(r.body.grant.ending, 'released');
      const g = await grantOf(grant.id);
      assert.equal(g.state, 'revoking');
      assert.ok(g.revoke_attempts >= 1);
      assert.ok(g.next_attempt_at, 'no retry planned');
      assert.match(g.last_error ?? '', /postgres connector "pg": cannot reach the server to revoke role/);
      assert.match(g.last_error ?? '', /ECONNREFUSED/);
      assertScrubbed(g.last_error, 'last_error');
      const text = await metrics();
      assert.equal(metricValue(text, 'keyshift_grants_revoking'), 1);
      assert.match(text, /^keyshift_grants\{state="revoking"\} 1$/m);
      const failed = actions(await eventsFor(grant.id), 'grant.revoke_failed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.actor, 'system:revoker');
      assert.equal(failed[0]!.details.ending, 'released');
      assert.equal(failed[0]!.details.retrying, true);
      assertScrubbed(String(failed[0]!.details.error), 'the grant.revoke_failed event');
    });

    it(`the worker keeps retrying with doubling backoff while the target stays down (${FAILURES} failed attempts), with still one grant.revoke_failed`, async (t) => {
      const { grant: g, attempts } = await sitThroughFailures(grant.id, FAILURES);
      assertBackoff(t, attempts, FAILURES);
      assert.equal(g.state, 'revoking');
      assertScrubbed(g.last_error, 'last_error');
      assert.equal(actions(await eventsFor(grant.id), 'grant.revoke_failed').length, 1);
      assert.equal(metricValue(await metrics(), 'keyshift_grants_revoking'), 1);
    });

    it('once the target is back (same data dir and port) the worker completes the release at its next planned retry, with no one acting', async (t) => {
      await cluster.resume();
      const resumedAt = Date.now();
      beforeResume = await grantOf(grant.id);
      if (beforeResume.state === 'revoking') {
        const due = Date.parse(beforeResume.next_attempt_at!);
        const done = await waitFor('the release to complete', async () => {
          const g = await grantOf(grant.id);
          return g.state === 'released' ? g : undefined;
        }, { timeoutMs: Math.max(0, due - Date.now()) + 15_000, intervalMs: 100 });
        const late = Date.parse(done.ended_at!) - due;
        t.diagnostic(`target back ${due - resumedAt} ms before retry #${beforeResume.revoke_attempts + 1}; released ${late} ms after it was due`);
        assert.ok(late < 2000, `completed ${late} ms after its planned retry (backoff window missed)`);
      } else {
        t.diagnostic('the release completed while the cluster was starting up');
      }
      const done = await grantOf(grant.id);
      assert.equal(done.state, 'released');
      assert.equal(done.last_error, null);
      assert.equal(done.next_attempt_at, null);
      assert.equal(metricValue(await metrics(), 'keyshift_grants_revoking'), 0);

      const events = await eventsFor(grant.id);
      const released = actions(events, 'grant.released');
      assert.equal(released.length, 1);
      assert.equal(released[0]!.actor, 'alice@example.com');
      assert.equal(released[0]!.details.attempts, done.revoke_attempts + 1);
      assert.equal(actions(events, 'grant.revoke_failed').length, 1);
      assert.deepEqual(events.map((e) => e.action).slice(-2), ['grant.revoke_failed', 'grant.released']);
    });

    it('after the release the role is gone from pg_roles, the old credentials no longer log in and the audit chain verifies', async () => {
      assert.deepEqual(await rolesOf(grant.id), []);
      await assert.rejects(pgLogin(creds), /password authentication failed/);
      const verify = await ks.api<{ ok: boolean }>('carol', 'GET', '/api/v1/audit/verify');
      assert.equal(verify.status, 200, verify.text);
      assert.equal(verify.body.ok, true, verify.text);
    });
  });

  describe('the target is down when the grant expires', () => {
    let grant: Grant;
    let creds: DbCredentials;
    let endsAt: number;
    let resumedAt: number;

    it('a 3 s grant gets credentials whose VALID UNTIL is the grant deadline, then the target goes down before the deadline', async () => {
      grant = await requestGrant('3s');
      assert.equal(grant.state, 'active');
      endsAt = Date.parse(grant.ends_at!);
      creds = await issue(grant.id);
      const [role] = await pgdb.sql<{ until: Date }>('SELECT rolvaliduntil AS until FROM pg_roles WHERE rolname = $1', [creds.user]);
      assert.equal(role?.until.getTime(), endsAt);
      await cluster.halt();
      assert.ok(Date.now() < endsAt, `the cluster took until ${Date.now() - endsAt} ms past the deadline to stop; grant too short for this machine`);
    });

    it('past the deadline the grant is revoking towards expired, not expired, with one grant.revoke_failed', async () => {
      const g = await waitFor('the worker to claim the expired grant', async () => {
        const now = await grantOf(grant.id);
        return now.state !== 'active' && (now.state !== 'revoking' || now.revoke_attempts >= 1) ? now : undefined;
      }, { timeoutMs: Math.max(0, endsAt - Date.now()) + 15_000, intervalMs: 100 });
      assert.equal(g.state, 'revoking');
      assert.equal(g.ending, 'expired');
      assert.match(g.last_error ?? '', /cannot reach the server/);
      assertScrubbed(g.last_error, 'last_error');
      assert.equal(metricValue(await metrics(), 'keyshift_grants_revoking'), 1);
      const events = await eventsFor(grant.id);
      assert.equal(actions(events, 'grant.expired').length, 0);
      const failed = actions(events, 'grant.revoke_failed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.details.ending, 'expired');
    });

    it('the worker keeps retrying while the target stays down', async (t) => {
      const { attempts } = await sitThroughFailures(grant.id, FAILURES);
      assertBackoff(t, attempts, FAILURES);
      t.diagnostic(`first failed attempt ${attempts[0]!.at - endsAt} ms after the deadline`);
      assert.ok(attempts[0]!.at >= endsAt, 'an attempt before the deadline');
    });

    it('when the target is back its VALID UNTIL guard refuses the expired credentials until the worker drops the role', async (t) => {
      await cluster.resume();
      resumedAt = Date.now();
      const refused = await works(pgLogin(creds)).then((ok) => !ok);
      const [role] = await pgdb.sql<{ login: boolean; until: Date }>('SELECT rolcanlogin AS login, rolvaliduntil AS until FROM pg_roles WHERE rolname = $1', [creds.user]);
      assert.equal(refused, true, 'the expired credentials logged in');
      if (role) {
        // The role still existed after the refused login, with LOGIN: only VALID UNTIL refused it.
        assert.equal(role.login, true);
        assert.ok(role.until.getTime() <= Date.now(), 'VALID UNTIL is in the future');
        t.diagnostic(`role still there ${resumedAt - endsAt} ms after the deadline; login refused by VALID UNTIL`);
      } else {
        t.diagnostic('the worker dropped the role before the guard could be observed');
      }
    });

    it('the worker completes the expiry: expired, one grant.expired with attempts > 1 and lag_ms covering the outage, role gone', async (t) => {
      const done = await waitFor('the expiry to complete', async () => {
        const g = await grantOf(grant.id);
        return g.state === 'expired' ? g : undefined;
      }, { timeoutMs: 20_000, intervalMs: 100 });
      assert.equal(done.last_error, null);
      assert.equal(done.next_attempt_at, null);
      const events = await eventsFor(grant.id);
      const expired = actions(events, 'grant.expired');
      assert.equal(expired.length, 1);
      assert.equal(expired[0]!.actor, 'system:expiry');
      const attempts = Number(expired[0]!.details.attempts);
      const lag = Number(expired[0]!.details.lag_ms);
      t.diagnostic(`expired on attempt ${attempts}, lag_ms ${lag} (target back ${resumedAt - endsAt} ms after the deadline)`);
      assert.ok(attempts > 1, `attempts ${attempts}`);
      assert.equal(attempts, done.revoke_attempts + 1);
      assert.ok(lag >= resumedAt - endsAt - 1000, `lag_ms ${lag} shorter than the outage past the deadline (${resumedAt - endsAt} ms)`);
      assert.equal(lag, Date.parse(done.ended_at!) - endsAt);
      assert.equal(actions(events, 'grant.revoke_failed').length, 1);
      const text = await metrics();
      assert.equal(metricValue(text, 'keyshift_grants_revoking'), 0);
      assert.equal(metricValue(text, 'keyshift_expiry_lag_seconds_count'), 1);
      assert.ok(Math.abs(metricValue(text, 'keyshift_expiry_lag_seconds_sum')! * 1000 - lag) < 1, 'the lag histogram does not hold the lag');
      assert.deepEqual(await rolesOf(grant.id), []);
      await assert.rejects(pgLogin(creds), /password authentication failed/);
    });
  });

  describe('the target is down when the grant is requested', () => {
    let grant: Grant;

    it('the grant fails with a clear, scrubbed last_error naming the connection problem and a grant.failed event', async () => {
      await cluster.halt();
      grant = await requestGrant('10m');
      assert.equal(grant.state, 'failed');
      assert.match(grant.last_error ?? '', /postgres connector "pg": cannot reach the server to create role/);
      assert.match(grant.last_error ?? '', new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${cluster.port}`));
      assertScrubbed(grant.last_error, 'last_error');
      const g = await grantOf(grant.id);
      assert.equal(g.state, 'failed');
      assert.equal(g.end_reason, 'provisioning failed');
      const events = await eventsFor(grant.id);
      const failed = actions(events, 'grant.failed');
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.details.code, 'CONNECTOR_UNAVAILABLE');
      assertScrubbed(String(failed[0]!.details.error), 'the grant.failed event');
      assert.equal(actions(events, 'grant.activated').length, 0);
      assert.equal((await ks.api('alice', 'POST', `/api/v1/grants/${grant.id}/credentials`, {})).status, 409);
    });

    it('once the target is back no role exists for the failed grant and nothing is being retried', async () => {
      await cluster.resume();
      assert.deepEqual(await rolesOf(grant.id), []);
      const g = await grantOf(grant.id);
      assert.equal(g.state, 'failed');
      assert.equal(g.next_attempt_at, null);
      assert.equal(metricValue(await metrics(), 'keyshift_grants_revoking'), 0);
      const verify = await ks.api<{ ok: boolean }>('carol', 'GET', '/api/v1/audit/verify');
      assert.equal(verify.body.ok, true, verify.text);
    });
  });
});
