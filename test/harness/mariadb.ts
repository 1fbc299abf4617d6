/**
 * A fresh corner of the machine's MariaDB (127.0.0.1:3306, root without a password) for
 * one suite: its own database with table `items`, its own guard schema, and a non-root
 * admin user holding exactly the privileges docs/connectors/mysql.md lists (optionally
 * minus some, to see `check` name them). The event scheduler is turned ON for the
 * target-side expiry guard. `cleanup()` drops every account with the suite's prefix, the
 * admins, the database and the guard schema, and puts the scheduler back as it was.
 *
 * A server that is not running is a failure with the command that starts it, never a skip.
 */
import { randomBytes } from 'node:crypto';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';

export const MARIADB_HOST = '127.0.0.1';
export const MARIADB_PORT = 3306;
export const MARIADB_START_HINT =
  'MariaDB is not reachable at 127.0.0.1:3306 as root. Start it with: ' +
  'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd';

/** The documented admin privileges, by the name `check` uses for each. */
export type AdminPrivilege = 'CREATE USER' | 'PROCESS' | 'CONNECTION ADMIN' | 'SELECT ON mysql.user' | 'EVENT' | 'GRANT OPTION';

export interface MariaDbAdmin {
  user: string;
  password: string;
  /** mysql://user:password@127.0.0.1:3306 — what a connector's `url` takes. */
  url: string;
}

export interface MariaDbFixture {
  database: string;
  guardSchema: string;
  /** For `user_prefix`: 6 characters, unique to this run, so sweeps never meet another suite's accounts. */
  prefix: string;
  admin: MariaDbAdmin;
  /** Another admin with the documented privileges except `without`. */
  addAdmin(without: AdminPrivilege[]): Promise<MariaDbAdmin>;
  /** A query as root. */
  query<R extends RowDataPacket = RowDataPacket>(sql: string, params?: unknown[]): Promise<R[]>;
  /**
   * Turns the (server-global) event scheduler ON again, in case a suite running in
   * parallel put it back OFF; fails when the server was started with it DISABLED.
   */
  ensureEventScheduler(): Promise<void>;
  /** Accounts at the server whose name starts with `prefix`. */
  accounts(): Promise<string[]>;
  cleanup(): Promise<void>;
}

const likePrefix = (p: string) => p.replace(/[\\_%]/g, '\\$&') + '%';

export async function prepareMariaDb(): Promise<MariaDbFixture> {
  let root: Connection;
  try {
    root = await createConnection({ host: MARIADB_HOST, port: MARIADB_PORT, user: 'root', password: '', connectTimeout: 5000 });
  } catch (e) {
    throw new Error(`${MARIADB_START_HINT} (${e instanceof Error ? e.message : String(e)})`);
  }
  root.on('error', () => undefined);
  const run = randomBytes(3).toString('hex');
  const database = `kse2e_${run}`;
  const guardSchema = `kse2eg_${run}`;
  const prefix = `e${run.slice(0, 4)}_`;
  const admins: string[] = [];
  const query = async <R extends RowDataPacket>(sql: string, params: unknown[] = []) => (await root.query<R[]>(sql, params))[0];

  const [[sched]] = await root.query<RowDataPacket[]>('SELECT @@GLOBAL.event_scheduler AS s');
  const schedulerBefore = String(sched?.s ?? 'OFF');

  async function addAdmin(without: AdminPrivilege[]): Promise<MariaDbAdmin> {
    const user = `ksadm${admins.length}_${run}`;
    const password = 'Adm-' + randomBytes(12).toString('hex');
    admins.push(user);
    await root.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [user, password]);
    const grants: Record<AdminPrivilege, string> = {
      'CREATE USER': `GRANT CREATE USER ON *.* TO ?@'%'`,
      PROCESS: `GRANT PROCESS ON *.* TO ?@'%'`,
      'CONNECTION ADMIN': `GRANT CONNECTION ADMIN ON *.* TO ?@'%'`,
      'SELECT ON mysql.user': `GRANT SELECT ON mysql.user TO ?@'%'`,
      EVENT: `GRANT EVENT ON \`${guardSchema}\`.* TO ?@'%'`,
      'GRANT OPTION': `GRANT SELECT ON \`${database}\`.* TO ?@'%' WITH GRANT OPTION`,
    };
    for (const [privilege, statement] of Object.entries(grants)) {
      if (!without.includes(privilege as AdminPrivilege)) await root.query(statement, [user]);
    }
    return { user, password, url: `mysql://${user}:${encodeURIComponent(password)}@${MARIADB_HOST}:${MARIADB_PORT}` };
  }

  async function cleanup(): Promise<void> {
    const [users] = await root.query<RowDataPacket[]>('SELECT User AS u, Host AS h FROM mysql.user WHERE User LIKE ? OR User IN (?)', [likePrefix(prefix), admins.length ? admins : ['']]);
    for (const u of users) await root.query('DROP USER IF EXISTS ?@?', [u.u, u.h]);
    await root.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await root.query(`DROP DATABASE IF EXISTS \`${guardSchema}\``);
    if (schedulerBefore !== 'DISABLED') await root.query(`SET GLOBAL event_scheduler = ${schedulerBefore === 'ON' ? 'ON' : 'OFF'}`);
    await root.end();
  }

  try {
    if (schedulerBefore !== 'DISABLED') await root.query('SET GLOBAL event_scheduler = ON');
    await root.query(`CREATE DATABASE \`${database}\``);
    await root.query(`CREATE TABLE \`${database}\`.items (id INT PRIMARY KEY, name VARCHAR(20))`);
    await root.query(`INSERT INTO \`${database}\`.items VALUES (1, 'one'), (2, 'two')`);
    await root.query(`CREATE DATABASE \`${guardSchema}\``);
    const admin = await addAdmin([]);
    return {
      database,
      guardSchema,
      prefix,
      admin,
      addAdmin,
      query,
      async ensureEventScheduler() {
        if (schedulerBefore === 'DISABLED') throw new Error('MariaDB runs with event_scheduler=DISABLED: restart it without that setting to test the expiry guard');
        await root.query('SET GLOBAL event_scheduler = ON');
      },
      accounts: async () => (await query('SELECT User AS u FROM mysql.user WHERE User LIKE ?', [likePrefix(prefix)])).map((r) => String(r.u)),
      cleanup,
    };
  } catch (e) {
    await cleanup().catch(() => undefined);
    throw e;
  }
}
