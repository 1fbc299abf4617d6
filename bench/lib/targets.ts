/**
 * The database servers the connector benchmarks provision on: a throwaway database, a
 * group role / privileges to hand out, a non-superuser admin set up as the connector docs
 * tell a DBA, and the floor — the same account lifecycle done directly with the driver.
 * Everything created carries a random tag and is dropped by cleanup().
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { superClient, urlFor } from './pg.ts';

export interface DbCredentials {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** A grantee's open connection. */
export interface Session {
  alive(): Promise<boolean>;
  close(): Promise<void>;
}

export interface Target {
  label: 'postgres' | 'mariadb';
  /** The connector block for keyshift.yaml; its secret URL is `${env:…}`, from `env`. */
  connector: Record<string, unknown>;
  env: Record<string, string>;
  /** The profile's access block. */
  access: Record<string, unknown>;
  /** Logs in and runs the probe query (a SELECT on the granted table); rejects if refused. */
  login(creds: DbCredentials): Promise<Session>;
  /** Floor: create a login account with the same rights directly, as the same admin. */
  floorGrant(i: number, endsAt: Date): Promise<DbCredentials>;
  /** Floor: refuse new logins, end sessions, drop the account, directly. */
  floorRevoke(user: string): Promise<void>;
  /** Facts for the JSON: admin role, auth method, guard… */
  facts: Record<string, unknown>;
  cleanup(): Promise<void>;
}

const tag = () => randomBytes(3).toString('hex');

// ---------------------------------------------------------------- PostgreSQL

export async function postgresTarget(): Promise<Target> {
  const t = tag();
  const db = `ksb_tgt_${t}`;
  const admin = `ksbadm_${t}`;
  const ro = `ksbro_${t}`;
  const ksPrefix = `ksk${t}_`;
  const floorPrefix = `ksf${t}_`;
  const adminPassword = randomBytes(12).toString('hex');
  const ident = pg.escapeIdentifier;
  const literal = pg.escapeLiteral;

  const cleanup = async () => {
    const c = await superClient();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${ident(db)} WITH (FORCE)`);
      const roles = await c.query<{ rolname: string }>(
        `SELECT rolname FROM pg_roles WHERE rolname IN ($1, $2) OR left(rolname, length($3)) = $3 OR left(rolname, length($4)) = $4`,
        [admin, ro, ksPrefix, floorPrefix],
      );
      await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY($1::text[])`, [roles.rows.map((r) => r.rolname)]);
      // Temporary roles first (members of ro), then ro and the admin.
      const order = roles.rows.map((r) => r.rolname).sort((a, b) => Number(a === admin || a === ro) - Number(b === admin || b === ro));
      for (const r of order) await c.query(`DROP ROLE IF EXISTS ${ident(r)}`);
    } finally {
      await c.end();
    }
  };

  const su = await superClient();
  let adminClient: pg.Client | null = null;
  try {
    const version = (await su.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
    const hba = await su.query<{ auth_method: string }>(`SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type = 'host'`).catch(() => ({ rows: [] as { auth_method: string }[] }));
    await su.query(`CREATE DATABASE ${ident(db)}`);
    const pg16plus = Number(version.split('.')[0]) >= 16;
    const inDb = await superClient(db);
    try {
      await inDb.query(`
        CREATE TABLE probe (id int PRIMARY KEY);
        INSERT INTO probe VALUES (1), (2), (3);
        CREATE ROLE ${ident(ro)} NOLOGIN;
        GRANT SELECT ON probe TO ${ident(ro)};
        -- The one-time admin setup from docs/connectors/postgres.md (no object-holder
        -- schema: grantees here only read):
        CREATE ROLE ${ident(admin)} LOGIN CREATEROLE PASSWORD ${literal(adminPassword)};
        GRANT pg_signal_backend TO ${ident(admin)};
        ${pg16plus ? `GRANT ${ident(ro)} TO ${ident(admin)} WITH ADMIN OPTION;` : ''}
      `);
    } finally {
      await inDb.end();
    }
    const { hostname, port } = new URL(urlFor(db));
    const adminUrl = new URL(urlFor(db, admin));
    adminUrl.password = adminPassword;
    adminClient = new pg.Client({ connectionString: adminUrl.toString() });
    adminClient.on('error', () => undefined);
    await adminClient.connect();
    const adminConn = adminClient;

    const login = async (creds: DbCredentials): Promise<Session> => {
      const c = new pg.Client({ host: creds.host, port: creds.port, user: creds.user, password: creds.password, database: creds.database, connectionTimeoutMillis: 5000 });
      c.on('error', () => undefined); // a terminated session reports here
      try {
        await c.connect();
        await c.query('SELECT count(*) FROM probe');
      } catch (e) {
        await c.end().catch(() => undefined);
        throw e;
      }
      return {
        alive: () => c.query('SELECT 1').then(() => true, () => false),
        close: () => c.end().catch(() => undefined),
      };
    };

    return {
      label: 'postgres',
      connector: { type: 'postgres', url: '${env:KSB_PG_ADMIN_URL}', role_prefix: ksPrefix },
      env: { KSB_PG_ADMIN_URL: adminUrl.toString() },
      access: { roles: [ro] },
      login,
      async floorGrant(i, endsAt) {
        const user = `${floorPrefix}${i}`;
        const password = randomBytes(24).toString('base64url');
        await adminConn.query(`CREATE ROLE ${ident(user)} LOGIN PASSWORD ${literal(password)} VALID UNTIL ${literal(endsAt.toISOString())}`);
        await adminConn.query(`GRANT ${ident(ro)} TO ${ident(user)}`);
        return { host: hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(port || 5432), user, password, database: db };
      },
      async floorRevoke(user) {
        await adminConn.query(`ALTER ROLE ${ident(user)} NOLOGIN`);
        await adminConn.query(`SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1`, [user]);
        await adminConn.query(`DROP ROLE ${ident(user)}`);
      },
      facts: {
        server: `PostgreSQL ${version}`,
        admin: `${admin}: non-superuser, CREATEROLE + pg_signal_backend${pg16plus ? ' + ADMIN OPTION on the group role' : ''}`,
        host_auth_methods: hba.rows.map((r) => r.auth_method),
      },
      async cleanup() {
        await adminConn.end().catch(() => undefined);
        await cleanup();
      },
    };
  } catch (e) {
    await adminClient?.end().catch(() => undefined);
    await cleanup().catch(() => undefined);
    throw e;
  } finally {
    await su.end();
  }
}

// ---------------------------------------------------------------- MariaDB / MySQL

const MYSQL_HOST = process.env.KEYSHIFT_BENCH_MYSQL_HOST ?? '127.0.0.1';
const MYSQL_PORT = Number(process.env.KEYSHIFT_BENCH_MYSQL_PORT ?? 3306);
const MYSQL_START_HINT = 'start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd';

export async function mariadbTarget(): Promise<Target> {
  const t = tag();
  const db = `ksb_${t}`;
  const guard = `ksbg_${t}`;
  const admin = `ksbadm_${t}`;
  const adminPassword = 'Adm-' + randomBytes(12).toString('hex');
  const ksPrefix = `k${t.slice(0, 4)}_`;
  const floorPrefix = `kf${t}_`;

  let root: Connection;
  try {
    root = await createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: 'root', password: '', connectTimeout: 5000 });
  } catch (e) {
    throw new Error(`MariaDB is not reachable at ${MYSQL_HOST}:${MYSQL_PORT} as root (${e instanceof Error ? e.message : String(e)}); ${MYSQL_START_HINT}`);
  }
  root.on('error', () => undefined);
  const rootConn = root;
  let adminConn: Connection | null = null;

  const cleanup = async () => {
    const like = (p: string) => p.replace(/_/g, '\\_') + '%';
    const [users] = await rootConn.query<RowDataPacket[]>('SELECT User AS u, Host AS h FROM mysql.user WHERE User LIKE ? OR User LIKE ? OR User = ?', [like(ksPrefix), like(floorPrefix), admin]);
    for (const u of users) await rootConn.query('DROP USER IF EXISTS ?@?', [u.u, u.h]);
    await rootConn.query(`DROP DATABASE IF EXISTS \`${db}\``);
    await rootConn.query(`DROP DATABASE IF EXISTS \`${guard}\``);
  };

  try {
    const [[info]] = await rootConn.query<RowDataPacket[]>('SELECT VERSION() AS v, @@GLOBAL.event_scheduler AS s');
    const scheduler = String(info?.s ?? 'OFF');
    await rootConn.query(`CREATE DATABASE \`${db}\``);
    await rootConn.query(`CREATE TABLE \`${db}\`.items (id INT PRIMARY KEY, name VARCHAR(20))`);
    await rootConn.query(`INSERT INTO \`${db}\`.items VALUES (1, 'one'), (2, 'two')`);
    await rootConn.query(`CREATE DATABASE \`${guard}\``);
    // The one-time admin setup from docs/connectors/mysql.md.
    await rootConn.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [admin, adminPassword]);
    await rootConn.query(`GRANT CREATE USER, PROCESS, CONNECTION ADMIN ON *.* TO ?@'%'`, [admin]);
    await rootConn.query(`GRANT SELECT ON mysql.user TO ?@'%'`, [admin]);
    await rootConn.query(`GRANT EVENT ON \`${guard}\`.* TO ?@'%'`, [admin]);
    await rootConn.query(`GRANT SELECT ON \`${db}\`.* TO ?@'%' WITH GRANT OPTION`, [admin]);
    adminConn = await createConnection({ host: MYSQL_HOST, port: MYSQL_PORT, user: admin, password: adminPassword, connectTimeout: 5000 });
    adminConn.on('error', () => undefined);
    const a = adminConn;

    const login = async (creds: DbCredentials): Promise<Session> => {
      const c = await createConnection({ host: creds.host, port: creds.port, user: creds.user, password: creds.password, database: creds.database, connectTimeout: 5000 });
      c.on('error', () => undefined); // a killed session reports here
      try {
        await c.query('SELECT COUNT(*) FROM items');
      } catch (e) {
        c.destroy();
        throw e;
      }
      return {
        alive: () => c.query('SELECT 1').then(() => true, () => false),
        close: async () => c.destroy(),
      };
    };

    const url = new URL(`mysql://${MYSQL_HOST}:${MYSQL_PORT}`);
    url.username = admin;
    url.password = adminPassword;
    return {
      label: 'mariadb',
      connector: {
        type: 'mysql',
        url: '${env:KSB_MYSQL_ADMIN_URL}',
        database: db,
        user_prefix: ksPrefix,
        guard_schema: guard,
        // The guard event needs the scheduler; this benchmark does not switch a shared server's global on.
        expiry_guard: scheduler === 'ON' ? 'event' : 'none',
      },
      env: { KSB_MYSQL_ADMIN_URL: url.toString() },
      access: { privileges: [`SELECT ON ${db}.*`] },
      login,
      async floorGrant(i) {
        const user = `${floorPrefix}${i}`;
        const password = randomBytes(24).toString('base64url');
        await a.query(`CREATE USER ?@'%' IDENTIFIED BY ?`, [user, password]);
        await a.query(`GRANT SELECT ON \`${db}\`.* TO ?@'%'`, [user]);
        return { host: MYSQL_HOST, port: MYSQL_PORT, user, password, database: db };
      },
      async floorRevoke(user) {
        const [sessions] = await a.query<RowDataPacket[]>('SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?', [user]);
        for (const s of sessions) await a.query('KILL CONNECTION ?', [Number(s.ID)]).catch(() => undefined);
        await a.query(`DROP USER ?@'%'`, [user]);
      },
      facts: {
        server: `MariaDB ${String(info?.v)}`,
        admin: `${admin}: not root; CREATE USER, PROCESS, CONNECTION ADMIN, SELECT on mysql.user, EVENT on the guard schema, SELECT WITH GRANT OPTION`,
        event_scheduler: scheduler,
        expiry_guard: scheduler === 'ON' ? 'event' : 'none (event_scheduler is not ON on this server)',
      },
      async cleanup() {
        await a.end().catch(() => undefined);
        try {
          await cleanup();
        } finally {
          await rootConn.end().catch(() => undefined);
        }
      },
    };
  } catch (e) {
    await adminConn?.end().catch(() => undefined);
    await cleanup().catch(() => undefined);
    await rootConn.end().catch(() => undefined);
    throw e;
  }
}
