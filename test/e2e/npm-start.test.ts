/**
 * The README's first command: `npm start` on a fresh checkout starts the whole product
 * (SQLite, the SSH CA connector, example tokens) on 127.0.0.1:8080. Runs the exact
 * script from package.json in an empty directory, as a new user would after cloning.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      done(false);
    });
    s.once('error', () => done(true));
  });
}

describe('npm start', () => {
  it('starts Keyshift on 127.0.0.1:8080 with a starter config, the CA key and a token per example user', async () => {
    assert.ok(await portFree(8080), 'port 8080 is taken: stop whatever listens there (npm start serves on it)');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
    // The script names bin/keyshift relative to the checkout; run it from an empty dir.
    const args = pkg.scripts.start.split(' ');
    assert.equal(args[0], 'node');
    const dir = mkdtempSync(join(tmpdir(), 'keyshift-npm-start-'));
    const child = spawn(process.execPath, args.slice(1).map((a) => (a.startsWith('bin/') ? join(root, a) : a)), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      const deadline = Date.now() + 30_000;
      let ready = false;
      while (!ready && Date.now() < deadline && child.exitCode === null) {
        ready = await fetch('http://127.0.0.1:8080/readyz').then((r) => r.ok).catch(() => false);
        if (!ready) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(ready, `not ready within 30 s; output:\n${output}`);
      const tokens = [...output.matchAll(/^\s+(\S+@example\.com)\s+(ks_\S+)$/gm)].map((m) => [m[1], m[2]] as const);
      assert.deepEqual(tokens.map(([u]) => u), ['alice@example.com', 'bob@example.com', 'carol@example.com']);
      const me = await fetch('http://127.0.0.1:8080/api/v1/me', { headers: { authorization: `Bearer ${tokens[0]![1]}` } }).then((r) => r.json() as Promise<{ email: string }>);
      assert.equal(me.email, 'alice@example.com');
      assert.ok(existsSync(join(dir, 'keyshift.yaml')));
      assert.equal(statSync(join(dir, 'data/ssh_ca')).mode & 0o077, 0, 'CA key must be owner-only');
      assert.equal(statSync(join(dir, 'data/keyshift.db')).mode & 0o077, 0, 'database must be owner-only');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
