/**
 * Shared pieces of the end-to-end suites: real processes only. The server runs as
 * `node bin/keyshift serve` (the executable a user runs), the CLI as `node bin/keyshift …`
 * with KEYSHIFT_SERVER / KEYSHIFT_TOKEN in a throwaway HOME, and everything a test starts
 * is registered with a `Cleanup` that the suite's `after` runs even when a test failed.
 *
 * Timing: every wait polls against a deadline (never a bare sleep standing in for "long
 * enough"), with generous bounds so a busy two-core machine is slow, not flaky.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';

export const BIN = fileURLToPath(new URL('../../bin/keyshift', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// Cleanup

/** Things to undo, run last-in first-out; one failing step does not stop the others. */
export class Cleanup {
  private readonly steps: Array<{ what: string; fn: () => unknown }> = [];

  add(what: string, fn: () => unknown): void {
    this.steps.push({ what, fn });
  }

  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), `keyshift-e2e-${prefix}-`));
    this.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  async run(): Promise<void> {
    const problems: string[] = [];
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.fn();
      } catch (e) {
        problems.push(`${step.what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (problems.length > 0) throw new Error(`cleanup failed:\n${problems.join('\n')}`);
  }
}

// ---------------------------------------------------------------------------------------
// Waiting

/**
 * Polls `probe` until it returns something other than undefined/false and returns it;
 * fails after `timeoutMs` with `what` and the last value seen.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 15_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await sleep(intervalMs);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------
// The CLI

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** An environment with nothing of ours leaking in: no KEYSHIFT_*, HOME in the test dir. */
export function cleanEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('KEYSHIFT_')) env[k] = v;
  return { ...env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), ...extra };
}

/** `node bin/keyshift ARGS` in `cwd`; never rejects (the exit code is in the result). */
export function runCli(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The one JSON value `--json` prints; fails naming the command when it is not JSON. */
export function parseJsonOutput<T>(args: string[], r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`keyshift ${args.join(' ')} (exit ${r.code}) did not print one JSON value on stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

/** A user at a terminal: the server URL and their token in the environment. */
export interface CliUser {
  run(args: string[]): Promise<CliResult>;
  /** Runs with --json, expects exit 0 and returns the parsed output. */
  json<T = unknown>(args: string[]): Promise<T>;
}

export function cliUser(opts: { cwd: string; home: string; server: string; token: string }): CliUser {
  const env = cleanEnv(opts.home, { KEYSHIFT_SERVER: opts.server, KEYSHIFT_TOKEN: opts.token });
  const run = (args: string[]) => runCli(args, { cwd: opts.cwd, env });
  return {
    run,
    async json<T>(args: string[]): Promise<T> {
      const full = [...args, '--json'];
      const r = await run(full);
      const value = parseJsonOutput<T>(full, r);
      if (r.code !== 0) throw new Error(`keyshift ${full.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
      return value;
    },
  };
}

// ---------------------------------------------------------------------------------------
// Config

/** Edits a keyshift.yaml in place, keeping its comments and layout. */
export function editConfig(path: string, edit: (doc: ReturnType<typeof parseDocument>) => void): void {
  const doc = parseDocument(readFileSync(path, 'utf8'));
  edit(doc);
  writeFileSync(path, doc.toString());
}

/** Points `server.listen` and `public_url` at a port; nothing else changes. */
export function setServerPort(path: string, port: number): string {
  const url = `http://127.0.0.1:${port}`;
  editConfig(path, (doc) => {
    doc.setIn(['server', 'listen'], `127.0.0.1:${port}`);
    doc.setIn(['server', 'public_url'], url);
  });
  return url;
}

// ---------------------------------------------------------------------------------------
// The server as a child process

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  pid: number;
  /** Everything the server wrote to stderr so far (JSON log lines). */
  logs(): string;
  /** Resolves once GET /readyz answers 200; fails early if the process exits. */
  waitReady(timeoutMs?: number): Promise<void>;
  exited(): boolean;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process is gone. */
  stop(): Promise<void>;
  /** SIGKILL: a crash. Resolves once the process is gone. */
  kill9(): Promise<void>;
}

/**
 * Spawns `node bin/keyshift serve --config FILE [--init]` and registers its shutdown.
 * The process is also killed if the test runner itself exits abruptly.
 */
export function spawnServer(opts: { configPath: string; url: string; cwd: string; home: string; init?: boolean; cleanup: Cleanup }): ServerProcess {
  const args = [BIN, 'serve', '--config', opts.configPath, ...(opts.init ? ['--init'] : [])];
  const child = spawn(process.execPath, args, { cwd: opts.cwd, env: cleanEnv(opts.home), stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (c: Buffer) => (log += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (log += c.toString('utf8')));
  let done = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    done = true;
    resolve();
  }));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  async function signalAndWait(signal: NodeJS.Signals, graceMs: number): Promise<void> {
    if (!done) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    }
    process.removeListener('exit', killOnExit);
  }

  const server: ServerProcess = {
    url: opts.url,
    child,
    pid: child.pid!,
    logs: () => log,
    exited: () => done,
    async waitReady(timeoutMs = 30_000) {
      await waitFor(
        `keyshift serve (pid ${child.pid}) to answer ${opts.url}/readyz`,
        async () => {
          if (done) throw new Error(`keyshift serve exited before it was ready:\n${log}`);
          const res = await fetch(`${opts.url}/readyz`).catch(() => null);
          return res?.status === 200 ? true : undefined;
        },
        { timeoutMs, intervalMs: 50 },
      ).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}\nserver log:\n${log}`);
      });
    },
    stop: () => signalAndWait('SIGTERM', 5000),
    kill9: () => signalAndWait('SIGKILL', 0),
  };
  opts.cleanup.add(`stop keyshift serve (pid ${child.pid})`, () => server.stop());
  return server;
}

// ---------------------------------------------------------------------------------------
// HTTP

export interface ApiResponse<T> {
  status: number;
  body: T;
  text: string;
}

export async function api<T = unknown>(url: string, token: string | null, method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
  const res = await fetch(url + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed as T, text };
}

/** A Prometheus gauge/counter value without labels, or null when absent. */
export function metricValue(exposition: string, name: string): number | null {
  const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(exposition);
  return m ? Number(m[1]) : null;
}

/** The JSON `keyshift init --json` prints. */
export interface InitResult {
  configPath: string;
  created: boolean;
  tokens: Array<{ user: string; token: string }>;
}

export function tokenFor(init: InitResult, user: string): string {
  const t = init.tokens.find((x) => x.user === user);
  if (!t) throw new Error(`keyshift init printed no token for ${user}: ${JSON.stringify(init.tokens.map((x) => x.user))}`);
  return t.token;
}
