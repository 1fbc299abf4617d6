/**
 * A fresh PostgreSQL database per test suite on the machine's server, dropped afterwards.
 * A server that is not running is a failure with the command that starts it, never a skip.
 */
import pg from 'pg';
import { randomBytes } from 'node:crypto';

export const PG_ADMIN_URL = process.env.KEYSHIFT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const PG_START_HINT = 'start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start';

export async function adminClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (e) {
    throw new Error(`PostgreSQL is not reachable at ${PG_ADMIN_URL} (${(e as Error).message}); ${PG_START_HINT}`);
  }
  return client;
}

export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = 'ks_test_' + randomBytes(6).toString('hex');
  const admin = await adminClient();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = PG_ADMIN_URL.replace(/\/[^/]*$/, '/' + name);
  return {
    url,
    async drop() {
      const c = await adminClient();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
