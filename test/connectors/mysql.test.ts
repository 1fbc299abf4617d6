/**
 * The mysql connector against the machine's MariaDB (127.0.0.1:3306, root without a
 * password). Each run creates its own database, guard schema, role and a non-root admin
 * user holding exactly the privileges docs/connectors/mysql.md lists, and drops them after.
 * A missing server fails the suite with a message saying how to start it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { context, runConnectorConformance } from '../../src/connectors/testing/conformance.ts';
import { mysqlConnectorModule } from '../../src/connectors/mysql/mysql-connector.ts';
import { accountName } from '../../src/connectors/mysql/mysql-sql.ts';
import { grantObject, parsePrivilege } from '../../src/connectors/mysql/mysql-privileges.ts';
import type { Connector, ConnectorModule, IssuedCredentials } from '../../src/connectors/connector.ts';
import { KeyshiftError } from '../../src/core/errors.ts';
import { systemClock } from '../../src/core/clock.ts';

const HOST = '127.0.0.1';
const PORT = 3306;
const START_HINT =
  'MariaDB is not reachable at 127.0.0.1:3306 as root. Start it with: ' +
  'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd';

const runId = randomBytes(3).toString('hex');
const DB = `kstest_${runId}`;
const GUARD = `ksguard_${runId}`;
const ROLE = `ksrole_${runId}`;
const ADMIN = `ksadm_${runId}`;
const WEAK_ADMIN = `ksweak_${runId}`;
const ADMIN_PW = 'Adm-' + randomBytes(12).toString('hex');
const PREFIX = `t${runId.slice(0, 4)}_`;

// Typed against the registry's view of a module.
const moduleUnderTest: ConnectorModule = mysqlConnectorModule;

let root: Connection | undefined;
let schedulerBefore = 'OFF';
let setupDone: Promise<void> | undefined;

async function rootConn(): Promise<Connection> {
  if (root) return root;
  try {
    root = await createConnection({ host: HOST, port: PORT, user: 'root', password: '', connectTimeout: 5000 });
    root.on('error', () => undefined);
    return root;
  } catch (e) {
    throw new Error(`${START_HINT} (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** The one-time admin setup, as documented (plus the test's own database and role). */
function setup(): Promise<void> {
  setupDone ??= (async () => {
    const r = await rootConn();
    const [[row]] = await r.query<RowDataPacket[]>('SELECT @@GLOBAL.event_scheduler AS s');
    schedulerBefore = String(row?.s ?? 'OFF');
    if (schedulerBefore !== 'DISABLED') await r.query('SET GLOBAL event_scheduler = ON');
    await r.query(`CREATE DATABASE \`${DB}\``);
    await r.query(`CREATE TABLE \`${DB}\`.items (id INT PRIMARY KEY, name VARCHAR(20))`);
    await r.query(`INSERT INTO \`${DB}\`.items VALUES (1, 'one'), (2, 'two')`);
    await r.query(`CREATE DATABASE \`${GUARD}\``);
    await r.query(`CREATE ROLE \`${ROLE}\``);
    await r.query(`GRANT SELECT ON \`${DB}\`.* TO \`${ROLE}\``);
    await r.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [ADMIN, ADMIN_PW]);
    await r.query(`GRANT CREATE USER, PROCESS, CONNECTION ADMIN ON *.* TO ?@'%'`, [ADMIN]);
    await r.query(`GRANT SELECT ON mysql.user TO ?@'%'`, [ADMIN]);
    await r.query(`GRANT EVENT ON \`${GUARD}\`.* TO ?@'%'`, [ADMIN]);
    await r.query(`GRANT SELECT ON \`${DB}\`.* TO ?@'%' WITH GRANT OPTION`, [ADMIN]);
    await r.query(`GRANT \`${ROLE}\` TO ?@'%' WITH ADMIN OPTION`, [ADMIN]);
  })();
  return setupDone;
}

after(async () => {
  if (!root) return;
  const r = root;
  const [users] = await r.query<RowDataPacket[]>('SELECT User AS u, Host AS h FROM mysql.user WHERE User LIKE ? OR User IN (?, ?)', [`${PREFIX.replace('_', '\\_')}%`, ADMIN, WEAK_ADMIN]);
  for (const u of users) await r.query('DROP USER IF EXISTS ?@?', [u.u, u.h]);
  await r.query(`DROP ROLE IF EXISTS \`${ROLE}\``);
  await r.query(`DROP DATABASE IF EXISTS \`${DB}\``);
  await r.query(`DROP DATABASE IF EXISTS \`${GUARD}\``);
  if (schedulerBefore !== 'DISABLED') await r.query(`SET GLOBAL event_scheduler = ${schedulerBefore === 'ON' ? 'ON' : 'OFF'}`);
  await r.end();
});

const logs: string[] = [];
const deps = { clock: systemClock, baseDir: process.cwd(), log: (_l: string, msg: string) => void logs.push(msg) };

function makeConnector(overrides: Record<string, unknown> = {}, user = ADMIN, password = ADMIN_PW): Connector {
  const parsed = moduleUnderTest.configSchema.safeParse({
    url: `mysql://${user}:${encodeURIComponent(password)}@${HOST}:${PORT}`,
    database: DB,
    user_prefix: PREFIX,
    guard_schema: GUARD,
    ...overrides,
  });
  assert.ok(parsed.success, 'config rejected: ' + JSON.stringify(!parsed.success && parsed.error.issues));
  return moduleUnderTest.create('test-mysql', parsed.data, deps);
}

function access(raw: unknown): unknown {
  const parsed = moduleUnderTest.accessSchema.safeParse(raw);
  assert.ok(parsed.success, 'access rejected: ' + JSON.stringify(!parsed.success && parsed.error.issues));
  return parsed.data;
}

const works = (p: Promise<unknown>) => p.then(() => true, () => false);

async function loginWith(creds: IssuedCredentials) {
  const s = creds.secret;
  const conn = await createConnection({
    host: String(s.host), port: Number(s.port), user: String(s.user), password: String(s.password),
    database: String(s.database), connectTimeout: 5000,
  });
  conn.on('error', () => undefined); // a KILL arrives as an 'error' event
  return {
    canUseGranted: () => works(conn.query('SELECT COUNT(*) FROM items')),
    canUseUngranted: () => works(conn.query('DELETE FROM items WHERE id = -1')),
    isAlive: () => works(conn.query('SELECT 1')),
    close: async () => conn.destroy(),
  };
}

async function accountsAtTarget(): Promise<string[]> {
  const [rows] = await (await rootConn()).query<RowDataPacket[]>('SELECT User AS u FROM mysql.user WHERE User LIKE ?', [`${PREFIX.replace('_', '\\_')}%`]);
  return rows.map((r) => String(r.u));
}

async function guardEvents(): Promise<string[]> {
  const [rows] = await (await rootConn()).query<RowDataPacket[]>('SELECT EVENT_NAME AS n FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?', [GUARD]);
  return rows.map((r) => String(r.n));
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

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, HOST, () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

runConnectorConformance('mysql (MariaDB)', {
  async connector() {
    await setup();
    return makeConnector();
  },
  get access() {
    return access({ privileges: [`SELECT ON ${DB}.*`] });
  },
  credentialsInput: async () => ({}),
  login: (creds) => loginWith(creds),
  async dropByHand(ctx) {
    await (await rootConn()).query(`DROP USER IF EXISTS ?@'%'`, [accountName(PREFIX, ctx.grantId)]);
  },
  capabilities: {
    cutsLiveSessions: true,
    targetGuard: true, // the suite turns the event scheduler on
    reissueInvalidatesEarlier: true,
    granteeReachesTarget: false, // names derive from the grant ID; the grantee is never sent
  },
  guardSlackSeconds: 2.5,
});

describe('mysql privilege strings and config', () => {
  it('well-formed privilege strings become quoted GRANT objects', () => {
    const a = parsePrivilege('select,  insert ON shop.orders');
    assert.deepEqual(a, { privileges: ['SELECT', 'INSERT'], database: 'shop', table: 'orders' });
    assert.equal(grantObject(a as Exclude<typeof a, string>), '`shop`.`orders`');
    const b = parsePrivilege('SELECT, SHOW VIEW ON shop_eu.*');
    assert.equal(grantObject(b as Exclude<typeof b, string>), '`shop\\_eu`.*', 'database-level _ must not act as a wildcard');
    const c = parsePrivilege('EXECUTE ON `my-db`.*');
    assert.deepEqual(c, { privileges: ['EXECUTE'], database: 'my-db', table: null });
  });

  for (const bad of [
    'SELECT ON *.*; DROP',
    'SELECT ON *.*',
    'ALL',
    'ALL ON shop.*',
    'ALL PRIVILEGES ON shop.*',
    'GRANT OPTION ON shop.*',
    'SUPER ON shop.*',
    'SELEKT ON shop.*',
    'SELECT ON shop',
    'SELECT ON shop.orders; DROP TABLE users',
    'SELECT ON `shop`; DROP`.*',
    'SELECT ON shop.`orders``; DROP`',
    "SELECT ON shop.orders' OR '1'='1",
    'SELECT ON shop.orders -- x',
    'SELECT ON shop./*x*/orders',
    'SELECT (password) ON shop.users',
    'EXECUTE ON shop.orders',
    'SELECT ON shop.orders ON other.*',
    'SELECT, ON shop.*',
    '',
  ]) {
    it(`the privilege string ${JSON.stringify(bad)} is a config error`, () => {
      const parsed = moduleUnderTest.accessSchema.safeParse({ privileges: [bad] });
      assert.equal(parsed.success, false);
    });
  }

  it('an access block needs roles or privileges, and nothing else', () => {
    assert.equal(moduleUnderTest.accessSchema.safeParse({}).success, false);
    assert.equal(moduleUnderTest.accessSchema.safeParse({ roles: [] }).success, false);
    assert.equal(moduleUnderTest.accessSchema.safeParse({ roles: ['app`; DROP'] }).success, false);
    assert.equal(moduleUnderTest.accessSchema.safeParse({ roles: ['app_ro'], grant_option: true }).success, false);
    assert.equal(moduleUnderTest.accessSchema.safeParse({ roles: ['app_ro'] }).success, true);
  });

  it('config rejects unknown keys, long prefixes and unsafe names without echoing the URL password', () => {
    const base = { url: 'mysql://admin:S3cretPw@db.example.com:3306' };
    assert.equal(moduleUnderTest.configSchema.safeParse(base).success, true);
    for (const bad of [
      { ...base, extra: 1 },
      { ...base, user_prefix: 'toolong_' },
      { ...base, guard_schema: 'keyshift;drop' },
      { ...base, account_host: "%' OR '1" },
      { ...base, expiry_guard: 'cron' },
      { url: 'postgres://admin:S3cretPw@db.example.com' },
      { url: 'mysql://:S3cretPw@db.example.com' },
    ]) {
      const parsed = moduleUnderTest.configSchema.safeParse(bad);
      assert.equal(parsed.success, false, JSON.stringify(bad));
      assert.ok(!JSON.stringify(parsed.error?.issues).includes('S3cretPw'));
    }
  });
});

describe('mysql connector behaviour', () => {
  let c: Connector;
  const readAccess = () => access({ privileges: [`SELECT ON ${DB}.*`] });

  before(async () => {
    await setup();
    c = makeConnector();
  });
  after(async () => {
    await c?.close();
  });

  it('an unreachable server is CONNECTOR_UNAVAILABLE and check reports it without throwing', async () => {
    const port = await freePort();
    const down = makeConnector({ url: `mysql://${ADMIN}:${encodeURIComponent(ADMIN_PW)}@${HOST}:${port}` });
    try {
      const e = await expectError(down.grant(context(readAccess())), 'CONNECTOR_UNAVAILABLE');
      assert.equal(e.retryable, true);
      const result = await down.check();
      assert.equal(result.ok, false);
      assert.ok(result.problems.length > 0);
      assert.ok(!result.problems.join(' ').includes(ADMIN_PW));
    } finally {
      await down.close();
    }
  });

  it('a wrong admin password is CONNECTOR_FAILED and never appears in the message', async () => {
    const wrongPw = 'Wrong-' + randomBytes(8).toString('hex');
    const bad = makeConnector({}, ADMIN, wrongPw);
    try {
      const e = await expectError(bad.grant(context(readAccess())), 'CONNECTOR_FAILED');
      assert.ok(!e.message.includes(wrongPw), e.message);
      const result = await bad.check();
      assert.equal(result.ok, false);
      assert.ok(!result.problems.join(' ').includes(wrongPw));
    } finally {
      await bad.close();
    }
  });

  it('a grant the target refuses fails without passwords in the message and leaves nothing behind', async () => {
    const ctx = context(access({ privileges: [`SELECT ON ${DB}.*`, `INSERT ON ${DB}.items`] }));
    const e = await expectError(c.grant(ctx), 'CONNECTOR_FAILED');
    assert.ok(!e.message.includes(ADMIN_PW), e.message);
    assert.ok(!/IDENTIFIED BY/i.test(e.message), e.message);
    assert.ok(!(await accountsAtTarget()).includes(accountName(PREFIX, ctx.grantId)), 'half-created account left behind');
    assert.ok(!(await guardEvents()).includes(accountName(PREFIX, ctx.grantId)), 'guard event left behind');
  });

  it('issuing credentials for an account dropped by hand is CONNECTOR_FAILED without the new password', async () => {
    const ctx = { ...context(readAccess()) };
    const state = await c.grant(ctx);
    await (await rootConn()).query(`DROP USER ?@'%'`, [accountName(PREFIX, ctx.grantId)]);
    const e = await expectError(c.issueCredentials({ ...ctx, state }, {}), 'CONNECTOR_FAILED');
    assert.ok(!/IDENTIFIED BY/i.test(e.message), e.message);
    await c.revoke({ ...ctx, state }, { early: true });
  });

  it('a role-based grant works at login without SET ROLE', async () => {
    let ctx = context(access({ roles: [ROLE] }));
    ctx = { ...ctx, state: await c.grant(ctx) };
    const creds = await c.issueCredentials(ctx, {});
    const s = await loginWith(creds);
    try {
      assert.equal(await s.canUseGranted(), true);
      assert.equal(await s.canUseUngranted(), false);
    } finally {
      await s.close();
      await c.revoke({ ...ctx, state: creds.state }, { early: true });
    }
  });

  it('on MariaDB a profile with several roles is refused before anything is created', async () => {
    const ctx = context(access({ roles: [ROLE, ROLE + '_b'] }));
    await expectError(c.grant(ctx), 'CONNECTOR_FAILED');
    assert.ok(!(await accountsAtTarget()).includes(accountName(PREFIX, ctx.grantId)));
  });

  it('the guard event carries the deadline and moves on extend', async () => {
    const endsAt = new Date(Date.now() + 3_600_000);
    let ctx = context(readAccess(), { endsAt });
    ctx = { ...ctx, state: await c.grant(ctx) };
    const name = accountName(PREFIX, ctx.grantId);
    const at = async () => {
      const [rows] = await (await rootConn()).query<RowDataPacket[]>(
        "SELECT DATE_FORMAT(CONVERT_TZ(EXECUTE_AT, TIME_ZONE, '+00:00'), '%Y-%m-%d %H:%i:%s') AS at FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?",
        [GUARD, name],
      );
      return rows[0]?.at as string | undefined;
    };
    assert.equal(await at(), endsAt.toISOString().slice(0, 19).replace('T', ' '));
    const later = new Date(endsAt.getTime() + 1_800_000);
    const { state } = await c.extend({ ...ctx, endsAt: later });
    assert.equal(await at(), later.toISOString().slice(0, 19).replace('T', ' '));
    await c.revoke({ ...ctx, state }, { early: true });
    assert.equal(await at(), undefined, 'guard event survives revoke');
  });

  it('with the event scheduler off, check says there is no target-side guard and grants carry none', async () => {
    const r = await rootConn();
    await r.query('SET GLOBAL event_scheduler = OFF');
    try {
      const result = await c.check();
      assert.equal(result.ok, false);
      assert.ok(result.problems.some((p) => /event_scheduler is OFF/.test(p)), result.problems.join('; '));
      let ctx = context(readAccess());
      ctx = { ...ctx, state: await c.grant(ctx) };
      assert.equal(ctx.state.guard_event, null);
      assert.ok(!(await guardEvents()).includes(accountName(PREFIX, ctx.grantId)));
      await c.revoke(ctx, { early: true });
    } finally {
      await r.query('SET GLOBAL event_scheduler = ON');
    }
  });

  it('expiry_guard none creates no event and check warns about it', async () => {
    const none = makeConnector({ expiry_guard: 'none' });
    try {
      const result = await none.check();
      assert.deepEqual(result.problems, []);
      assert.match(result.info.warning ?? '', /no target-side guard/);
      let ctx = context(readAccess());
      ctx = { ...ctx, state: await none.grant(ctx) };
      assert.ok(!(await guardEvents()).includes(accountName(PREFIX, ctx.grantId)));
      await none.revoke(ctx, { early: true });
    } finally {
      await none.close();
    }
  });

  it('check names each privilege the admin user lacks', async () => {
    const r = await rootConn();
    const pw = 'Weak-' + randomBytes(8).toString('hex');
    await r.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [WEAK_ADMIN, pw]);
    await r.query(`GRANT CREATE USER ON *.* TO ?@'%'`, [WEAK_ADMIN]);
    const weak = makeConnector({}, WEAK_ADMIN, pw);
    try {
      const result = await weak.check();
      assert.equal(result.ok, false);
      const text = result.problems.join('\n');
      for (const missing of ['PROCESS', 'CONNECTION ADMIN', 'GRANT OPTION', 'EVENT', 'SELECT on mysql.user']) {
        assert.ok(text.includes(missing), `${missing} not named in: ${text}`);
      }
      assert.ok(!text.includes('CREATE USER privilege'), 'CREATE USER is held but reported missing');
    } finally {
      await weak.close();
      await r.query(`DROP USER ?@'%'`, [WEAK_ADMIN]);
    }
  });

  it('lists the accounts it created with their grant IDs, removes one, and refuses foreign accounts', async () => {
    const a = context(readAccess());
    const b = context(readAccess());
    const sa = await c.grant(a);
    const sb = await c.grant(b);
    const listed = await c.listManagedAccounts!();
    const nameA = accountName(PREFIX, a.grantId);
    assert.deepEqual(listed.find((x) => x.account === nameA), { account: nameA, grantId: a.grantId });
    assert.ok(listed.some((x) => x.grantId === b.grantId));
    await c.removeAccount!(nameA);
    const after = await c.listManagedAccounts!();
    assert.ok(!after.some((x) => x.account === nameA));
    assert.ok(!(await guardEvents()).includes(nameA), 'removed account kept its guard event');
    await expectError(c.removeAccount!('root'), 'CONNECTOR_FAILED');
    await expectError(c.removeAccount!(ADMIN), 'CONNECTOR_FAILED');
    await c.revoke({ ...a, state: sa }, { early: true });
    await c.revoke({ ...b, state: sb }, { early: true });
  });

  it('a grant called twice converges on one working account', async () => {
    let ctx = context(readAccess());
    await c.grant(ctx);
    ctx = { ...ctx, state: await c.grant(ctx) };
    const creds = await c.issueCredentials(ctx, {});
    const s = await loginWith(creds);
    assert.equal(await s.canUseGranted(), true);
    await s.close();
    await c.revoke({ ...ctx, state: creds.state }, { early: true });
  });
});
