/**
 * The server side of the HTTP benchmark, in its own process so that it does not share an
 * event loop with the load generator: either a real Keyshift (startBenchServer) or the
 * floor, a bare Fastify app. Driven over IPC by spawnServer() below.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import Database from 'better-sqlite3';
import { startBenchServer, type BenchServerOptions } from './server.ts';

type Start = { mode: 'keyshift'; options: Omit<BenchServerOptions, 'clock'> } | { mode: 'floor' };
interface Started {
  url: string;
  tokens: Record<string, string>;
}

/** Bare Fastify: `POST /json` answers a small JSON body; `POST /sqlite` also commits one row. */
async function startFloor(): Promise<{ url: string; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-bench-floor-'));
  // The pragmas Keyshift's store sets (src/storage/sql-store.ts).
  const db = new Database(join(dir, 'floor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO rows (body, created_at) VALUES (?, ?)');
  const write = db.transaction((body: string) => insert.run(body, new Date().toISOString()).lastInsertRowid);
  const app = Fastify({ logger: false });
  app.post('/json', async () => ({ id: 'req_01J0000000000000000000000', state: 'pending' }));
  app.post('/sqlite', async (req) => ({ id: Number(write(JSON.stringify(req.body ?? null))), state: 'pending' }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    async close() {
      await app.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function childMain(): Promise<void> {
  let close: () => Promise<void> = async () => undefined;
  let problems: () => string[] = () => [];
  process.on('message', (m: Start | { mode: 'close' }) => {
    void (async () => {
      try {
        if (m.mode === 'close') {
          await close();
          process.send!({ ok: true, problems: problems() }, () => process.exit(0));
          return;
        }
        if (m.mode === 'floor') {
          const f = await startFloor();
          close = f.close;
          process.send!({ ok: true, url: f.url, tokens: {} } satisfies Started & { ok: true });
          return;
        }
        const s = await startBenchServer(m.options);
        close = s.close;
        problems = () => s.problems;
        process.send!({ ok: true, url: s.url, tokens: Object.fromEntries(s.tokens) } satisfies Started & { ok: true });
      } catch (e) {
        process.send!({ ok: false, error: e instanceof Error ? e.message : String(e) });
      }
    })();
  });
  process.on('disconnect', () => process.exit(0));
}

export interface ChildServer extends Started {
  pid: number;
  /** Closes the server, then the process; returns what Keyshift logged as warn/error. */
  close(): Promise<string[]>;
}

function ask<T>(child: ChildProcess, message: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench server process did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`bench server process exited (code ${code})`));
    };
    child.once('exit', onExit);
    child.once('message', (m: { ok: boolean; error?: string } & T) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      if (m.ok) resolve(m);
      else reject(new Error(m.error));
    });
    child.send(message as object);
  });
}

export async function spawnServer(start: Start): Promise<ChildServer> {
  // KEYSHIFT_BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=.tmp/prof", profiles the server.
  const extra = (process.env.KEYSHIFT_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = fork(fileURLToPath(import.meta.url), ['--child'], { execArgv: ['--import', 'tsx', ...extra], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const started = await ask<Started>(child, start, 120_000);
    return {
      ...started,
      pid: child.pid!,
      async close() {
        const exited = new Promise((r) => child.once('exit', r));
        try {
          const r = await ask<{ problems: string[] }>(child, { mode: 'close' }, 30_000);
          // Let it exit by itself (a --cpu-prof profile is written at exit).
          await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
          return r.problems;
        } finally {
          if (child.exitCode === null) child.kill();
        }
      },
    };
  } catch (e) {
    if (child.exitCode === null) child.kill();
    throw e;
  }
}

if (process.argv.includes('--child') && process.argv[1] === fileURLToPath(import.meta.url)) void childMain();
