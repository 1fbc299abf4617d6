/**
 * Database access end to end: the real Keyshift server (HTTP, SQLite storage, expiry
 * worker, orphan sweeper), the real CLI (`bin/keyshift`), real clients (`psql`, `mysql`,
 * pg and mysql2) against a throwaway scram-sha-256 PostgreSQL 15 cluster and the
 * machine's MariaDB, each set up with a non-superuser admin exactly as docs/connectors
 * tells a DBA. Admin URLs reach the config only as `${env:NAME}`.
 *
 * The suite runs in two phases on one Keyshift data dir: first a server from
 * `startKeyshift`, then (for the orphan sweep) a restart built with `buildKeyshift` and a
 * log that captures every line, so the last test can prove no secret reached the log.
 * Tests within a describe share state and run in order.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { stringify } from 'yaml';
import { startKeyshift, type TestServer, type UserName } from '../harness/keyshift.ts';
import { freePort, prepareDatabase, startPg15, type Cluster, type ClusterDatabase } from '../harness/pg-cluster.ts';
import { prepareMariaDb, type MariaDbAdmin, type MariaDbFixture } from '../harness/mariadb.ts';
import { api, cleanEnv, runCli, waitFor, type CliResult } from './helpers.ts';
import { buildKeyshift, type Keyshift } from '../../src/main.ts';
import { encodeComment } from '../../src/connectors/postgres/role-naming.ts';
import { newId } from '../../src/core/ids.ts';

interface GrantView {
  id: string;
  state: string;
  ends_at: string | null;
  last_error: string | null;
  connector_state: Record<string, unknown>;
}
interface DbCredentials {
  grant_id: string;
  kind: string;
  expires_at: string;
  credentials: { host: string; port: number; database: string; user: string; password: string; uri: string };
}
interface AuditLine {
  action: string;
  grant_id: string | null;
  connector: string | null;
  details: Record<string, unknown>;
}

/** The server currently serving: phase 1 from startKeyshift, phase 2 a capturing restart. */
interface Running {
  url: string;
  close(): Promise<void>;
}

const ENV_PG = 'KS_E2E_PG_ADMIN_URL';
const ENV_PG_DOWN = 'KS_E2E_PG_DOWN_URL';
const ENV_MYSQL = 'KS_E2E_MYSQL_ADMIN_URL';

let cluster: Cluster | undefined;
let pgdb: ClusterDatabase;
let maria: MariaDbFixture | undefined;
let weakMaria: MariaDbAdmin;
let first: TestServer | undefined;
let server: Running;
let tokens: Record<UserName, string>;
let serverEnv: NodeJS.ProcessEnv;
let dataDir: string | undefined;
let work: string | undefined;
/** Everything that must never show up in the audit log, last_error or the server log. */
const secrets: string[] = [];
/** Every line the phase-2 server logged. */
const serverLog: string[] = [];
/** Clients opened by tests, closed in `after` whatever happened. */
const openClients: Array<() => Promise<unknown>> = [];

// ---------------------------------------------------------------- helpers

async function call<T>(as: UserName, method: string, path: string, body?: unknown): Promise<{ status: number; body: T; text: string }> {
  return api<T>(server.url, tokens[as], method, path, body);
}

async function requestGrant(as: UserName, profile: string, duration?: string): Promise<GrantView> {
  const r = await call<{ request: { state: string }; grant: GrantView | null }>(as, 'POST', '/api/v1/requests', { profile, duration, reason: 'e2e: database access' });
  assert.equal(r.status, 201, r.text);
  assert.ok(r.body.grant, `no grant for ${profile}: ${r.text}`);
  return r.body.grant;
}

async function grantOf(id: string): Promise<GrantView> {
  const r = await call<GrantView>('carol', 'GET', `/api/v1/grants/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function issue(as: UserName, grantId: string): Promise<DbCredentials> {
  const r = await call<DbCredentials>(as, 'POST', `/api/v1/grants/${grantId}/credentials`, {});
  assert.equal(r.status, 200, r.text);
  secrets.push(r.body.credentials.password);
  return r.body;
}

async function release(as: UserName, grantId: string): Promise<GrantView> {
  const r = await call<{ grant: GrantView }>(as, 'POST', `/api/v1/grants/${grantId}/release`, {});
  assert.equal(r.status, 200, r.text);
  return r.body.grant;
}

async function audit(): Promise<{ text: string; events: AuditLine[] }> {
  const r = await call<string>('carol', 'GET', '/api/v1/audit?format=jsonl&limit=10000');
  assert.equal(r.status, 200, r.text);
  return { text: r.text, events: r.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditLine) };
}

const works = (p: Promise<unknown>) => p.then(() => true, () => false);

async function pgLogin(c: DbCredentials['credentials']): Promise<pg.Client> {
  const client = new pg.Client({ host: c.host, port: c.port, user: c.user, password: c.password, database: c.database, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined); // a terminated session reports 57P01 here
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  openClients.push(() => client.end());
  return client;
}

async function mysqlLogin(c: DbCredentials['credentials']): Promise<Connection> {
  const conn = await createConnection({ host: c.host, port: c.port, user: c.user, password: c.password, database: c.database, connectTimeout: 5000 });
  conn.on('error', () => undefined); // a KILL arrives as an 'error' event
  openClients.push(async () => conn.destroy());
  return conn;
}

/** The temporary role / account name the connector recorded for a grant. */
const account = (g: GrantView) => String(g.connector_state.account);

async function mysqlAccountExists(account: string): Promise<boolean> {
  return (await maria!.accounts()).includes(account);
}

/** `PATH` shims for psql and mysql: see `shimScript`. */
function writeShims(dir: string): string {
  const bin = join(dir, 'shim-bin');
  mkdirSync(bin);
  for (const client of ['psql', 'mysql']) {
    let real: string;
    try {
      real = execFileSync('which', [client]).toString().trim();
    } catch {
      throw new Error(`${client} is not installed: apt-get install -y postgresql-client mariadb-client`);
    }
    writeFileSync(join(bin, client), shimScript(real));
    chmodSync(join(bin, client), 0o755);
  }
  return bin;
}

/**
 * Runs in place of the client while `keyshift connect` waits for it: records its argv and
 * the password it got through the environment, lists every process on the machine whose
 * command line holds that password (only builtins see the password: printf writes the
 * grep pattern file), then execs the real client with the same argv and environment.
 */
function shimScript(real: string): string {
  return `#!/bin/sh
pw="\${PGPASSWORD:-\${MYSQL_PWD:-}}"
out="$SHIM_OUT.$(basename "$0")"
printf '%s\\n' "$@" > "$out.argv"
printf '%s' "$pw" > "$out.pw"
: > "$out.scan"
if [ -n "$pw" ]; then
  for f in /proc/[0-9]*/cmdline; do
    printf '%s: ' "$f"; { tr '\\0' ' ' < "$f"; } 2>/dev/null; echo
  done | grep -F -f "$out.pw" | cut -d: -f1 > "$out.scan"
fi
exec ${real} "$@"
`;
}

/** The phase-2 server: same dir and config, every log line captured. */
async function restartCapturing(): Promise<Running> {
  const ks: Keyshift = await buildKeyshift({
    configPath: join(dataDir!, 'keyshift.yaml'),
    env: serverEnv,
    log: (level, msg, fields) => void serverLog.push(JSON.stringify({ level, msg, ...fields })),
  });
  await ks.start();
  await ks.app.listen({ host: '127.0.0.1', port: 0 });
  const address = ks.app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return { url, close: () => ks.close() };
}

// ---------------------------------------------------------------- the suite

describe('database access end to end (PostgreSQL 15, MariaDB)', () => {
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'keyshift-e2e-db-'));
    dataDir = join(work, 'keyshift');
    mkdirSync(dataDir);
    [cluster, maria] = await Promise.all([startPg15(), prepareMariaDb()]);
    pgdb = await prepareDatabase(cluster, { pg16plus: false });
    weakMaria = await maria.addAdmin(['PROCESS']);
    secrets.push(pgdb.adminPassword, pgdb.weakPassword, maria.admin.password, weakMaria.password);
    serverEnv = {
      ...process.env,
      [ENV_PG]: pgdb.url('keyshift_admin', pgdb.adminPassword),
      [ENV_PG_DOWN]: pgdb.url('keyshift_admin', pgdb.adminPassword).replace(`:${pgdb.port}/`, `:${await freePort()}/`),
      [ENV_MYSQL]: maria.admin.url,
    };
    const duration = { default: '10m', max: '1h' };
    const requesters = ['group:engineering', 'group:dba', 'group:security'];
    first = await startKeyshift({
      dir: dataDir,
      env: serverEnv,
      connectors: {
        pg: { type: 'postgres', url: `\${env:${ENV_PG}}` },
        'pg-down': { type: 'postgres', url: `\${env:${ENV_PG_DOWN}}` },
        shop: { type: 'mysql', url: `\${env:${ENV_MYSQL}}`, database: maria.database, user_prefix: maria.prefix, guard_schema: maria.guardSchema },
      },
      profiles: {
        'db-read': { connector: 'pg', access: { roles: ['ks_test_readonly'] }, duration, requesters, extend: { max_times: 3, max_total: '4h', approval: 'none' } },
        'shop-read': { connector: 'shop', access: { privileges: [`SELECT ON ${maria.database}.*`] }, duration, requesters, extend: { max_times: 3, max_total: '4h', approval: 'none' } },
        'db-admin-ish': {
          connector: 'pg',
          access: { roles: ['ks_test_creator', 'ks_test_readonly'] },
          duration: { default: '15m', max: '30m' },
          requesters: ['group:sre'],
          requires: ['reason'],
          approval: { rules: [{ approvers: ['group:sre-leads'], count: 1 }] },
        },
        'down-read': { connector: 'pg-down', access: { roles: ['ks_test_readonly'] }, duration, requesters },
      },
    });
    server = first;
    tokens = first.tokens;
  });

  after(async () => {
    const problems: string[] = [];
    const step = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        problems.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    for (const close of openClients) await step('close a client', () => close().catch(() => undefined));
    if (server) await step('close keyshift', () => server.close());
    await step('stop the PostgreSQL cluster', () => cluster?.stop());
    await step('clean MariaDB', () => maria?.cleanup());
    await step('remove the temp dir', () => work && rmSync(work, { recursive: true, force: true }));
    if (problems.length) throw new Error(`cleanup failed:\n${problems.join('\n')}`);
  });

  it('admin URLs reach the config file only as ${env:NAME} references', () => {
    const text = readFileSync(first!.configPath, 'utf8');
    assert.match(text, new RegExp(`\\$\\{env:${ENV_PG}\\}`));
    for (const s of secrets) assert.ok(!text.includes(s), 'a secret is written in keyshift.yaml');
  });

  describe('PostgreSQL db-read: credentials, least privilege, release', () => {
    let grant: GrantView;
    let firstCreds: DbCredentials;
    let secondCreds: DbCredentials;
    let open: pg.Client;

    it('a request without approval activates at once and credentials come back with host, port, database, user, password and uri', async () => {
      grant = await requestGrant('alice', 'db-read');
      assert.equal(grant.state, 'active');
      assert.ok(await pgdb.roleExists(account(grant)), 'no role at the target');
      firstCreds = await issue('alice', grant.id);
      const c = firstCreds.credentials;
      assert.equal(firstCreds.kind, 'database');
      assert.deepEqual(Object.keys(c).sort(), ['database', 'host', 'password', 'port', 'uri', 'user']);
      assert.deepEqual([c.host, Number(c.port), c.database, c.user], ['127.0.0.1', pgdb.port, pgdb.database, account(grant)]);
      assert.ok(c.password.length >= 24, 'password too short');
      const viaUri = new pg.Client({ connectionString: c.uri });
      viaUri.on('error', () => undefined);
      await viaUri.connect();
      assert.equal((await viaUri.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u, c.user);
      await viaUri.end();
      // Returned once: nothing Keyshift shows later holds the password.
      assert.ok(!(await call('alice', 'GET', `/api/v1/grants/${grant.id}`)).text.includes(c.password), 'password in GET /grants/:id');
    });

    it('issuing credentials again returns a different password and the first one stops working', async () => {
      secondCreds = await issue('alice', grant.id);
      assert.notEqual(secondCreds.credentials.password, firstCreds.credentials.password);
      assert.equal(secondCreds.credentials.user, firstCreds.credentials.user);
      await assert.rejects(pgLogin(firstCreds.credentials), /password authentication failed/);
      open = await pgLogin(secondCreds.credentials);
    });

    it('the temporary role can SELECT but cannot INSERT or DELETE', async () => {
      assert.equal((await open.query<{ n: string }>('SELECT count(*) AS n FROM probe')).rows[0]?.n, '3');
      await assert.rejects(open.query('INSERT INTO probe VALUES (42)'), /permission denied/);
      await assert.rejects(open.query('DELETE FROM probe'), /permission denied/);
      assert.equal((await pgdb.sql<{ n: string }>('SELECT count(*) AS n FROM probe'))[0]?.n, '3');
    });

    it('release refuses new logins, cuts the open session and drops the role', async () => {
      assert.equal(await works(open.query('SELECT 1')), true);
      const ended = await release('alice', grant.id);
      assert.equal(ended.state, 'released');
      assert.equal(await works(open.query('SELECT 1')), false, 'the open session survived release');
      await assert.rejects(pgLogin(secondCreds.credentials));
      assert.equal(await pgdb.roleExists(account(grant)), false, 'role still in pg_roles');
      const events = (await audit()).events.filter((e) => e.grant_id === grant.id).map((e) => e.action);
      for (const a of ['grant.activated', 'grant.credentials_issued', 'grant.released']) assert.ok(events.includes(a), `no ${a} in ${events.join(', ')}`);
    });
  });

  describe('MariaDB shop-read: credentials, least privilege, release', () => {
    let grant: GrantView;
    let firstCreds: DbCredentials;
    let secondCreds: DbCredentials;
    let open: Connection;

    it('a request without approval activates at once and credentials come back with host, port, database, user, password and uri', async () => {
      grant = await requestGrant('alice', 'shop-read');
      assert.equal(grant.state, 'active');
      assert.ok(await mysqlAccountExists(account(grant)), 'no account at the target');
      firstCreds = await issue('alice', grant.id);
      const c = firstCreds.credentials;
      assert.deepEqual(Object.keys(c).sort(), ['database', 'host', 'password', 'port', 'uri', 'user']);
      assert.deepEqual([c.host, Number(c.port), c.database, c.user], ['127.0.0.1', 3306, maria!.database, account(grant)]);
      const viaUri = await createConnection({ uri: c.uri, connectTimeout: 5000 });
      const [rows] = await viaUri.query<RowDataPacket[]>('SELECT CURRENT_USER() AS u');
      assert.equal(rows[0]?.u, `${c.user}@%`);
      await viaUri.end();
    });

    it('issuing credentials again returns a different password and the first one stops working', async () => {
      secondCreds = await issue('alice', grant.id);
      assert.notEqual(secondCreds.credentials.password, firstCreds.credentials.password);
      await assert.rejects(mysqlLogin(firstCreds.credentials), /Access denied/);
      open = await mysqlLogin(secondCreds.credentials);
    });

    it('the temporary account can SELECT but cannot INSERT or DELETE', async () => {
      const [rows] = await open.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM items');
      assert.equal(Number(rows[0]?.n), 2);
      await assert.rejects(open.query(`INSERT INTO items VALUES (3, 'three')`), /command denied/);
      await assert.rejects(open.query('DELETE FROM items'), /command denied/);
    });

    it('release refuses new logins, cuts the open session and drops the account', async () => {
      assert.equal(await works(open.query('SELECT 1')), true);
      assert.equal((await release('alice', grant.id)).state, 'released');
      assert.equal(await works(open.query('SELECT 1')), false, 'the open session survived release');
      await assert.rejects(mysqlLogin(secondCreds.credentials), /Access denied/);
      assert.equal(await mysqlAccountExists(account(grant)), false, 'account still in mysql.user');
    });
  });

  it('a 3 s grant is removed at the target after its deadline by the worker: login refused, open session cut, grant.expired', async () => {
    const [pgGrant, myGrant] = await Promise.all([requestGrant('bob', 'db-read', '3s'), requestGrant('bob', 'shop-read', '3s')]);
    const [pgCreds, myCreds] = await Promise.all([issue('bob', pgGrant.id), issue('bob', myGrant.id)]);
    const [pgOpen, myOpen] = await Promise.all([pgLogin(pgCreds.credentials), mysqlLogin(myCreds.credentials)]);
    assert.equal(await works(pgOpen.query('SELECT count(*) FROM probe')), true);
    assert.equal(await works(myOpen.query('SELECT COUNT(*) FROM items')), true);
    for (const g of [pgGrant, myGrant]) {
      const expired = await waitFor(`grant ${g.id} to expire`, async () => {
        const cur = await grantOf(g.id);
        return cur.state === 'expired' ? cur : undefined;
      }, { timeoutMs: 15_000 });
      // The worker acts within about a second of the deadline.
      assert.ok(Date.now() - Date.parse(g.ends_at!) < 10_000);
      assert.equal(expired.state, 'expired');
    }
    assert.equal(await works(pgOpen.query('SELECT 1')), false, 'PostgreSQL session survived expiry');
    assert.equal(await works(myOpen.query('SELECT 1')), false, 'MariaDB session survived expiry');
    await assert.rejects(pgLogin(pgCreds.credentials));
    await assert.rejects(mysqlLogin(myCreds.credentials));
    assert.equal(await pgdb.roleExists(account(pgGrant)), false);
    assert.equal(await mysqlAccountExists(account(myGrant)), false);
    const expiredEvents = (await audit()).events.filter((e) => e.action === 'grant.expired').map((e) => e.grant_id);
    assert.ok(expiredEvents.includes(pgGrant.id) && expiredEvents.includes(myGrant.id), `grant.expired for ${expiredEvents.join(', ')}`);
  });

  it('an extension moves the target-side deadline: PostgreSQL VALID UNTIL and the MariaDB guard event', async () => {
    const [pgGrant, myGrant] = await Promise.all([requestGrant('mallory', 'db-read', '10m'), requestGrant('mallory', 'shop-read', '10m')]);
    const validUntil = async () => (await pgdb.sql<{ v: Date }>('SELECT rolvaliduntil AS v FROM pg_roles WHERE rolname = $1', [account(pgGrant)]))[0]?.v.getTime();
    // EXECUTE_AT is in the event's time zone: compare how far it moved, not its value.
    const guardAt = async () => {
      const rows = await maria!.query('SELECT UNIX_TIMESTAMP(EXECUTE_AT) AS t FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?', [maria!.guardSchema, account(myGrant)]);
      assert.equal(rows.length, 1, `no guard event for ${account(myGrant)}`);
      return Number(rows[0]!.t);
    };
    assert.equal(await validUntil(), Date.parse(pgGrant.ends_at!));
    const guardBefore = await guardAt();
    for (const g of [pgGrant, myGrant]) {
      const r = await call<{ grant: GrantView }>('mallory', 'POST', `/api/v1/grants/${g.id}/extend`, { duration: '30m', reason: 'still digging' });
      assert.equal(r.status, 200, r.text);
      assert.equal(Date.parse(r.body.grant.ends_at!), Date.parse(g.ends_at!) + 30 * 60_000);
    }
    assert.equal(await validUntil(), Date.parse(pgGrant.ends_at!) + 30 * 60_000);
    assert.equal((await guardAt()) - guardBefore, 30 * 60);
    await Promise.all([release('mallory', pgGrant.id), release('mallory', myGrant.id)]);
  });

  it('a profile needing approval provisions nothing until another person approves', async () => {
    const r = await call<{ request: { id: string; state: string }; grant: GrantView | null }>('alice', 'POST', '/api/v1/requests', { profile: 'db-admin-ish', reason: 'INC-1: fix a stuck migration' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.request.state, 'pending');
    assert.equal(r.body.grant, null);
    assert.equal((await call('alice', 'POST', `/api/v1/requests/${r.body.request.id}/approve`, {})).status, 403, 'self-approval');
    const approved = await call<{ request: { state: string; grant_id?: string }; grant: GrantView | null }>('bob', 'POST', `/api/v1/requests/${r.body.request.id}/approve`, { comment: 'ok' });
    assert.equal(approved.status, 200, approved.text);
    const grant = approved.body.grant;
    assert.ok(grant, approved.text);
    assert.equal(grant.state, 'active');
    const members = await pgdb.sql<{ g: string }>(
      `SELECT g.rolname AS g FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = $1 ORDER BY 1`,
      [account(grant)],
    );
    assert.deepEqual(members.map((m) => m.g), ['ks_test_creator', 'ks_test_readonly']);
    await release('alice', grant.id);
    assert.equal(await pgdb.roleExists(account(grant)), false);
  });

  describe('keyshift connect runs the real client with the password only in its environment', () => {
    let home: string;
    let shims: string;
    const connect = async (as: UserName, grantId: string, args: string[]): Promise<CliResult> =>
      runCli(['connect', grantId, '--', ...args], {
        cwd: home,
        env: cleanEnv(home, { KEYSHIFT_SERVER: server.url, KEYSHIFT_TOKEN: tokens[as], PATH: `${shims}:${process.env.PATH ?? ''}`, SHIM_OUT: join(home, 'shim') }),
      });
    const shimOutput = (client: string, what: string) => readFileSync(join(home, `shim.${client}.${what}`), 'utf8');

    before(() => {
      home = join(work!, 'home');
      mkdirSync(home, { mode: 0o700 });
      shims = writeShims(work!);
    });

    for (const flavor of [
      { client: 'psql', profile: 'db-read', args: ['-c', 'select current_user'], expected: (name: string) => name },
      { client: 'mysql', profile: 'shop-read', args: ['-e', 'select current_user()'], expected: (name: string) => `${name}@%` },
    ]) {
      it(`${flavor.client}: prints the temporary account, and no process has the password on its command line`, async () => {
        const grant = await requestGrant('dave', flavor.profile);
        const r = await connect('dave', grant.id, flavor.args);
        assert.equal(r.code, 0, `keyshift connect exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
        assert.ok(r.stdout.split('\n').map((l) => l.trim()).includes(flavor.expected(account(grant))), `no ${flavor.expected(account(grant))} line in:\n${r.stdout}`);
        const password = shimOutput(flavor.client, 'pw');
        assert.ok(password.length >= 24, `${flavor.client} got no password through its environment`);
        secrets.push(password);
        assert.equal(shimOutput(flavor.client, 'scan'), '', `the password is on the command line of ${shimOutput(flavor.client, 'scan')}`);
        assert.ok(!shimOutput(flavor.client, 'argv').includes(password));
        assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password), 'password printed by keyshift connect');
        await release('dave', grant.id);
      });
    }
  });

  it('keyshift config check --connect names a missing admin privilege (exit 1) and passes the documented setup (exit 0)', async () => {
    const write = (name: string, pgUrlVar: string, mysqlUrlVar: string) => {
      const path = join(work!, name);
      writeFileSync(
        path,
        stringify({
          storage: { url: 'sqlite:data/check.db' },
          connectors: {
            pg: { type: 'postgres', url: `\${env:${pgUrlVar}}` },
            shop: { type: 'mysql', url: `\${env:${mysqlUrlVar}}`, database: maria!.database, user_prefix: maria!.prefix, guard_schema: maria!.guardSchema },
          },
          profiles: {
            'db-read': { connector: 'pg', access: { roles: ['ks_test_readonly'] }, duration: { default: '10m', max: '1h' }, requesters: ['group:engineering'] },
            'shop-read': { connector: 'shop', access: { privileges: [`SELECT ON ${maria!.database}.*`] }, duration: { default: '10m', max: '1h' }, requesters: ['group:engineering'] },
          },
        }),
      );
      return path;
    };
    const env = cleanEnv(join(work!, 'home'), {
      KS_CHECK_PG_GOOD: pgdb.url('keyshift_admin', pgdb.adminPassword),
      KS_CHECK_MYSQL_GOOD: maria!.admin.url,
      KS_CHECK_PG_NOSIGNAL: pgdb.url('keyshift_nosignal', pgdb.weakPassword),
      KS_CHECK_MYSQL_NOPROCESS: weakMaria.url,
    });
    await maria!.ensureEventScheduler(); // `check` counts the scheduler being off as a problem
    const [weak, good] = await Promise.all([
      runCli(['config', 'check', '--connect', '--config', write('weak.yaml', 'KS_CHECK_PG_NOSIGNAL', 'KS_CHECK_MYSQL_NOPROCESS')], { cwd: work!, env }),
      runCli(['config', 'check', '--connect', '--config', write('good.yaml', 'KS_CHECK_PG_GOOD', 'KS_CHECK_MYSQL_GOOD')], { cwd: work!, env }),
    ]);
    assert.equal(weak.code, 1, `weak admins: exit ${weak.code}\n${weak.stdout}\n${weak.stderr}`);
    assert.match(weak.stdout + weak.stderr, /pg_signal_backend/);
    assert.match(weak.stdout + weak.stderr, /lacks the PROCESS privilege/);
    assert.equal(good.code, 0, `documented setup: exit ${good.code}\n${good.stdout}\n${good.stderr}`);
    for (const s of secrets) {
      assert.ok(!(weak.stdout + weak.stderr + good.stdout + good.stderr).includes(s), 'a secret in config check output');
    }
  });

  it(
    'keyshift config check --connect names the GRANT OPTION a MariaDB admin lacks for a privilege a profile hands out',
    async () => {
      // Holds every documented privilege, but WITH GRANT OPTION only on another schema.
      const admin = await maria!.addAdmin(['GRANT OPTION']);
      secrets.push(admin.password);
      await maria!.query(`GRANT SELECT ON \`${maria!.guardSchema}\`.* TO ?@'%' WITH GRANT OPTION`, [admin.user]);
      const path = join(work!, 'no-grant-option.yaml');
      writeFileSync(
        path,
        stringify({
          storage: { url: 'sqlite:data/check.db' },
          connectors: { shop: { type: 'mysql', url: '${env:KS_CHECK_MYSQL}', database: maria!.database, user_prefix: maria!.prefix, guard_schema: maria!.guardSchema } },
          profiles: {
            'shop-read': { connector: 'shop', access: { privileges: [`SELECT ON ${maria!.database}.*`] }, duration: { default: '10m', max: '1h' }, requesters: ['group:engineering'] },
          },
        }),
      );
      const r = await runCli(['config', 'check', '--connect', '--config', path], { cwd: work!, env: cleanEnv(join(work!, 'home'), { KS_CHECK_MYSQL: admin.url }) });
      assert.equal(r.code, 1, `exit ${r.code}:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout + r.stderr, new RegExp(`SELECT.*${maria!.database}.*GRANT OPTION|GRANT OPTION.*SELECT.*${maria!.database}`));
    },
  );

  describe('after a restart (every log line captured)', () => {
    const fakeGrant = newId('grt');
    const pgOrphan = `ks_${fakeGrant.toLowerCase()}_ghost`;
    const notOurs = 'ks_not_keyshifts';
    const myOrphan = () => `${maria!.prefix}${fakeGrant.slice(4).toLowerCase()}`;

    let downPg: { grant: GrantView; creds: DbCredentials; open: pg.Client };
    let downMy: { grant: GrantView; creds: DbCredentials; open: Connection };

    it('while Keyshift is down the targets guard the deadline: PostgreSQL refuses new logins (VALID UNTIL), the MariaDB event drops the account and its session', async () => {
      await maria!.ensureEventScheduler();
      const [pgGrant, myGrant] = await Promise.all([requestGrant('dave', 'db-read', '3s'), requestGrant('dave', 'shop-read', '3s')]);
      const [pgCreds, myCreds] = await Promise.all([issue('dave', pgGrant.id), issue('dave', myGrant.id)]);
      downPg = { grant: pgGrant, creds: pgCreds, open: await pgLogin(pgCreds.credentials) };
      downMy = { grant: myGrant, creds: myCreds, open: await mysqlLogin(myCreds.credentials) };
      const stopped = server;
      server = { url: first!.url, close: async () => undefined };
      await stopped.close();
      assert.ok(Date.now() < Date.parse(pgGrant.ends_at!), 'too slow: the deadline passed before Keyshift stopped');
      await waitFor('the MariaDB guard event to drop the account', async () => !(await mysqlAccountExists(account(myGrant))), { timeoutMs: 10_000 });
      assert.equal(await works(downMy.open.query('SELECT 1')), false, 'the guard event left the MariaDB session open');
      await waitFor('the PostgreSQL deadline to pass', () => Date.now() > Date.parse(pgGrant.ends_at!) + 200);
      await assert.rejects(pgLogin(pgCreds.credentials), /password authentication failed/);
      // Documented limit: PostgreSQL checks VALID UNTIL at login only.
      assert.equal(await works(downPg.open.query('SELECT 1')), true);
      assert.equal(await pgdb.roleExists(account(pgGrant)), true);
    });

    it('the orphan sweep at start-up removes accounts whose grant does not exist, with connector.orphan_removed, and leaves roles without a Keyshift comment', async () => {
      await pgdb.sql(`CREATE ROLE ${pg.escapeIdentifier(pgOrphan)} LOGIN PASSWORD 'x-not-used'`);
      await pgdb.sql(`COMMENT ON ROLE ${pg.escapeIdentifier(pgOrphan)} IS ${pg.escapeLiteral(encodeComment({ grant: fakeGrant, grantee: 'ghost@example.com', profile: 'db-read' }))}`);
      await pgdb.sql(`CREATE ROLE ${pg.escapeIdentifier(notOurs)} LOGIN`);
      await maria!.query(`CREATE USER ?@'%' IDENTIFIED BY 'x-Not-used-1'`, [myOrphan()]);
      server = await restartCapturing();
      await waitFor('the orphan sweep to remove both accounts', async () => !(await pgdb.roleExists(pgOrphan)) && !(await mysqlAccountExists(myOrphan())), { timeoutMs: 20_000 });
      const removed = await waitFor('two connector.orphan_removed events', async () => {
        const found = (await audit()).events.filter((e) => e.action === 'connector.orphan_removed');
        return found.length >= 2 ? found : undefined;
      });
      const byConnector = Object.fromEntries(removed.map((e) => [e.connector, e.details.account]));
      assert.deepEqual(byConnector, { pg: pgOrphan, shop: myOrphan() });
      assert.equal(await pgdb.roleExists(notOurs), true, 'a role Keyshift did not make was dropped');
      await pgdb.sql(`DROP ROLE ${pg.escapeIdentifier(notOurs)}`);
    });

    it('grants that expired while Keyshift was down are expired at start-up: the PostgreSQL session is cut and the role dropped', async () => {
      for (const g of [downPg.grant, downMy.grant]) assert.equal((await grantOf(g.id)).state, 'expired', `grant ${g.id} not expired after restart`);
      assert.equal(await works(downPg.open.query('SELECT 1')), false, 'the PostgreSQL session survived the restart');
      assert.equal(await pgdb.roleExists(account(downPg.grant)), false);
      const expired = (await audit()).events.filter((e) => e.action === 'grant.expired').map((e) => e.grant_id);
      assert.ok(expired.includes(downPg.grant.id) && expired.includes(downMy.grant.id));
    });

    it('a grant on an unreachable target fails with a clear, scrubbed last_error and grant.failed, and leaves nothing behind', async () => {
      const grant = await requestGrant('erin', 'down-read');
      assert.equal(grant.state, 'failed');
      assert.match(grant.last_error ?? '', /cannot connect|unreachable|ECONNREFUSED|unavailable/i);
      assert.match(grant.last_error ?? '', /pg-down|127\.0\.0\.1/);
      for (const s of secrets) assert.ok(!(grant.last_error ?? '').includes(s), `a secret in last_error: ${grant.last_error}`);
      assert.equal((await grantOf(grant.id)).state, 'failed');
      const failed = (await audit()).events.find((e) => e.action === 'grant.failed' && e.grant_id === grant.id);
      assert.ok(failed, 'no grant.failed event');
      const left = await pgdb.sql('SELECT rolname FROM pg_roles WHERE rolname LIKE $1', [`ks_${grant.id.toLowerCase()}%`]);
      assert.deepEqual(left, []);
      assert.equal((await call('erin', 'POST', `/api/v1/grants/${grant.id}/credentials`, {})).status, 409);
    });

    it('a full lifecycle on the restarted server still works (so its log has something to hide)', async () => {
      const pgGrant = await requestGrant('erin', 'db-read');
      const myGrant = await requestGrant('erin', 'shop-read');
      const pgClient = await pgLogin((await issue('erin', pgGrant.id)).credentials);
      const myConn = await mysqlLogin((await issue('erin', myGrant.id)).credentials);
      await release('erin', pgGrant.id);
      await release('erin', myGrant.id);
      assert.equal(await works(pgClient.query('SELECT 1')), false);
      assert.equal(await works(myConn.query('SELECT 1')), false);
    });

    it('no admin or issued password appears in the audit log, any last_error or the server log', async () => {
      assert.ok(secrets.length >= 10, `too few secrets collected (${secrets.length}); did the other tests run?`);
      assert.ok(serverLog.length > 0, 'the server logged nothing: is the capturing log wired?');
      const { text } = await audit();
      const grants = await call<{ items: GrantView[] }>('carol', 'GET', '/api/v1/grants?all=true');
      assert.equal(grants.status, 200, grants.text);
      assert.ok(grants.body.items.some((g) => g.last_error), 'expected at least one last_error to inspect');
      const places: Array<[string, string]> = [
        ['the audit log', text],
        ['last_error', grants.body.items.map((g) => g.last_error ?? '').join('\n')],
        ['GET /grants', grants.text],
        ['the server log', serverLog.join('\n')],
      ];
      for (const [where, body] of places) {
        for (const s of secrets) assert.ok(!body.includes(s), `a password (${s.slice(0, 3)}…) in ${where}`);
      }
    });
  });
});
