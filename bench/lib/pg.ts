/** The machine's PostgreSQL, as a superuser: fresh databases for a benchmark, dropped after. */
import pg from 'pg';
import { randomBytes } from 'node:crypto';

export const PG_SUPER_URL = process.env.KEYSHIFT_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const START_HINT = 'start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';

export function urlFor(database: string, user?: string): string {
  const url = new URL(PG_SUPER_URL);
  url.pathname = '/' + database;
  if (user !== undefined) {
    url.username = user;
    url.password = '';
  }
  return url.toString();
}

export async function superClient(database?: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: database ? urlFor(database) : PG_SUPER_URL, connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
  } catch (e) {
    throw new Error(`PostgreSQL is not reachable at ${new URL(PG_SUPER_URL).host} (${(e as Error).message}); ${START_HINT}`);
  }
  return c;
}

export async function createDatabase(prefix: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const c = await superClient();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  return {
    name,
    url: urlFor(name),
    async drop() {
      const d = await superClient();
      try {
        await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await d.end();
      }
    },
  };
}
