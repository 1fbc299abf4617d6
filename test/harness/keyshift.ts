/**
 * Starts a real Keyshift (config file, storage, SSH CA connector, HTTP on a free port) in
 * a temp dir for a test, with tokens for a cast of users. Nothing is mocked: tests talk
 * HTTP to the same server `keyshift serve` runs.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildKeyshift } from '../../src/main.ts';
import type { Keyshift } from '../../src/main.ts';
import type { Clock } from '../../src/core/clock.ts';
import { createTestDatabase } from './postgres.ts';

export const USERS = {
  alice: { email: 'alice@example.com', groups: ['engineering', 'sre'] },
  bob: { email: 'bob@example.com', groups: ['engineering', 'sre-leads'] },
  carol: { email: 'carol@example.com', groups: ['platform', 'security'] },
  dave: { email: 'dave@example.com', groups: ['dba'] },
  erin: { email: 'erin@example.com', groups: ['dba', 'security', 'sre-leads'] },
  mallory: { email: 'mallory@example.com', groups: ['engineering'] },
} as const;
export type UserName = keyof typeof USERS;

/** Profiles every suite can use; all on the SSH connector so no other server is needed. */
export const DEFAULT_PROFILES: Record<string, unknown> = {
  'host-shell': {
    description: 'Shell on hosts',
    connector: 'hosts',
    access: { principals: ['oncall'] },
    duration: { default: '15m', max: '1h' },
    requesters: ['group:sre'],
    requires: ['reason'],
    approval: { rules: [{ approvers: ['group:sre-leads'], count: 1 }] },
    request_ttl: '30m',
    extend: { max_times: 2, max_total: '2h' },
    break_glass: { allowed: true, review_within: '24h' },
  },
  logs: {
    description: 'Read logs, no approval',
    connector: 'hosts',
    access: { principals: ['logs'] },
    duration: { default: '30m', max: '2h' },
    requesters: ['group:engineering'],
  },
  'two-team': {
    description: 'Needs a DBA and security',
    connector: 'hosts',
    access: { principals: ['dbadmin'] },
    duration: { default: '30m', max: '1h' },
    requesters: ['group:sre', 'group:engineering'],
    requires: ['reason', 'incident'],
    approval: { rules: [{ approvers: ['group:dba'], count: 1 }, { approvers: ['group:security'], count: 1 }] },
  },
};

export interface TestServer {
  url: string;
  dir: string;
  configPath: string;
  ks: Keyshift;
  tokens: Record<UserName, string>;
  /** JSON API call as a user (or a raw token string, or null for none). */
  api<T = unknown>(as: UserName | { token: string } | null, method: string, path: string, body?: unknown): Promise<{ status: number; body: T; text: string }>;
  close(): Promise<void>;
}

export interface StartOptions {
  storage?: 'sqlite' | 'postgres';
  profiles?: Record<string, unknown>;
  connectors?: Record<string, unknown>;
  extra?: Record<string, unknown>;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  /** Keep the dir (and SQLite file) after close, e.g. to restart on it. */
  dir?: string;
  /** Use this storage URL (e.g. a PostgreSQL database shared by two replicas). */
  storageUrl?: string;
  /** Leader lease length for the workers (PostgreSQL storage). */
  leaseSeconds?: number;
  /** Where the server logs (default: nowhere). */
  log?: (level: string, msg: string, fields?: Record<string, unknown>) => void;
}

export async function startKeyshift(opts: StartOptions = {}): Promise<TestServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'keyshift-test-'));
  const pgdb = opts.storage === 'postgres' && !opts.storageUrl ? await createTestDatabase() : null;
  const config = {
    server: { listen: '127.0.0.1:0' },
    storage: { url: opts.storageUrl ?? (pgdb ? pgdb.url : 'sqlite:data/keyshift.db') },
    identity: { users: Object.values(USERS).map((u) => ({ email: u.email, groups: [...u.groups] })), admins: ['group:platform'] },
    connectors: { hosts: { type: 'ssh', ca_key_file: 'data/ssh_ca' }, ...(opts.connectors ?? {}) },
    profiles: opts.profiles ?? DEFAULT_PROFILES,
    ...(opts.extra ?? {}),
  };
  const configPath = join(dir, 'keyshift.yaml');
  writeFileSync(configPath, stringify(config));
  const ks = await buildKeyshift({ configPath, clock: opts.clock, env: opts.env ?? process.env, log: opts.log ?? (() => undefined), leaseSeconds: opts.leaseSeconds });
  await ks.start();
  await ks.app.listen({ host: '127.0.0.1', port: 0 });
  const address = ks.app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const tokens = {} as Record<UserName, string>;
  for (const [name, u] of Object.entries(USERS)) {
    tokens[name as UserName] = (await ks.services.tokens.create('system:test', u.email, 86400, 'test')).token;
  }
  return {
    url,
    dir,
    configPath,
    ks,
    tokens,
    async api(as, method, path, body) {
      const token = as === null ? null : typeof as === 'string' ? tokens[as] : as.token;
      const res = await fetch(url + path, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON (csv, markdown, krl) */
      }
      return { status: res.status, body: parsed as never, text };
    },
    async close() {
      await ks.close();
      if (pgdb) await pgdb.drop();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
