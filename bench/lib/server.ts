/**
 * A real Keyshift for a benchmark: temp dir, generated keyshift.yaml, SQLite or a fresh
 * PostgreSQL database, the SSH CA connector plus whatever connectors the benchmark adds,
 * tokens for the users it asks for. Bench-local on purpose (needs hundreds of users and its
 * own clock); the same idea as test/harness/keyshift.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildKeyshift, type Keyshift } from '../../src/main.ts';
import type { Clock } from '../../src/core/clock.ts';
import { createDatabase } from './pg.ts';

export interface BenchUser {
  email: string;
  groups: string[];
}

export interface BenchServerOptions {
  storage: 'sqlite' | 'postgres';
  users: BenchUser[];
  profiles: Record<string, unknown>;
  connectors?: Record<string, unknown>;
  /** Emails to mint API tokens for. */
  tokensFor?: string[];
  clock?: Clock;
  /** Extra environment for `${env:NAME}` references (secrets must come from there). */
  env?: Record<string, string>;
  /** Listen on 127.0.0.1:<free port> (default true). */
  listen?: boolean;
}

export interface BenchServer {
  url: string;
  dir: string;
  ks: Keyshift;
  tokens: Map<string, string>;
  /** `sqlite` file path or PostgreSQL URL of Keyshift's own storage. */
  storage: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
  /** Warnings and errors Keyshift logged (info/debug are dropped). */
  problems: string[];
  /** Stops Keyshift but keeps its storage (a floor may reuse the same file or database). */
  stop(): Promise<void>;
  /** stop(), then delete the temp dir and drop the database. */
  close(): Promise<void>;
}

export async function startBenchServer(opts: BenchServerOptions): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-bench-'));
  const db = opts.storage === 'postgres' ? await createDatabase('ksb_store') : null;
  const problems: string[] = [];
  let ks: Keyshift | null = null;
  const stop = async () => {
    const k = ks;
    ks = null;
    if (k) await k.close().catch((e: unknown) => problems.push(`close: ${String(e)}`));
  };
  const cleanup = async () => {
    await stop();
    if (db) await db.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const config = {
      server: { listen: '127.0.0.1:0' },
      storage: { url: db ? db.url : 'sqlite:data/keyshift.db' },
      identity: { users: opts.users, admins: ['group:platform'] },
      connectors: { hosts: { type: 'ssh', ca_key_file: 'data/ssh_ca' }, ...(opts.connectors ?? {}) },
      profiles: opts.profiles,
    };
    const configPath = join(dir, 'keyshift.yaml');
    writeFileSync(configPath, stringify(config, { aliasDuplicateObjects: false }));
    ks = await buildKeyshift({
      configPath,
      clock: opts.clock,
      env: { ...process.env, ...(opts.env ?? {}) },
      // Fastify's own log (internal errors' stacks) only when asked: KEYSHIFT_BENCH_HTTP_LOG=1.
      httpLogger: process.env.KEYSHIFT_BENCH_HTTP_LOG === '1',
      log: (level, msg, fields) => {
        if ((level === 'warn' || level === 'error') && problems.length < 50) problems.push(`${level}: ${msg} ${fields ? JSON.stringify(fields) : ''}`);
      },
    });
    await ks.start();
    let url = '';
    if (opts.listen !== false) {
      await ks.app.listen({ host: '127.0.0.1', port: 0 });
      const address = ks.app.server.address();
      url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    }
    const tokens = new Map<string, string>();
    for (const email of opts.tokensFor ?? []) {
      tokens.set(email, (await ks.services.tokens.create('system:bench', email, 86400, 'bench')).token);
    }
    const running = ks;
    const storage = db ? { kind: 'postgres' as const, url: db.url } : { kind: 'sqlite' as const, path: join(dir, 'data', 'keyshift.db') };
    return { url, dir, ks: running, tokens, storage, problems, stop, close: cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** `n` users named `<prefix>-0001@bench.example` in the given groups. */
export function manyUsers(prefix: string, n: number, groups: string[]): BenchUser[] {
  return Array.from({ length: n }, (_, i) => ({ email: `${prefix}-${String(i + 1).padStart(4, '0')}@bench.example`, groups: [...groups] }));
}
