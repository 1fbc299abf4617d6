import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { apiError, type FakeApi, run, startFakeApi, tempHome } from './harness.ts';

const me = { email: 'alice@example.com', groups: ['sre'], admin: false };

describe('server and token resolution, and login', () => {
  let api: FakeApi;
  let home: { dir: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    api = await startFakeApi({
      'GET /api/v1/me': (s) =>
        s.authorization === 'Bearer good' || s.authorization?.startsWith('Bearer from-')
          ? { json: me }
          : apiError(401, 'UNAUTHENTICATED', 'token not recognised'),
    });
    home = await tempHome();
  });
  afterEach(async () => {
    await api.close();
    await home.cleanup();
  });

  async function writeLoginFile(server: string, token: string) {
    const dir = join(home.dir, '.config', 'keyshift');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'credentials.json'), JSON.stringify({ server, token }), { mode: 0o600 });
  }
  const lastAuth = () => api.seen.at(-1)?.authorization;

  it('the --token flag wins over KEYSHIFT_TOKEN and the login file', async () => {
    await writeLoginFile(api.url, 'from-file');
    const r = await run(['whoami', '--token', 'from-flag'], { home: home.dir, env: { KEYSHIFT_TOKEN: 'from-env' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastAuth(), 'Bearer from-flag');
  });

  it('KEYSHIFT_TOKEN wins over the login file', async () => {
    await writeLoginFile(api.url, 'from-file');
    const r = await run(['whoami'], { home: home.dir, env: { KEYSHIFT_TOKEN: 'from-env' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastAuth(), 'Bearer from-env');
  });

  it('the login file supplies server and token when nothing else does', async () => {
    await writeLoginFile(api.url, 'from-file');
    const r = await run(['whoami'], { home: home.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastAuth(), 'Bearer from-file');
    assert.match(r.stdout, /alice@example\.com/);
  });

  it('the --server flag wins over KEYSHIFT_SERVER', async () => {
    const r = await run(['whoami', '--server', api.url], {
      home: home.dir,
      env: { KEYSHIFT_SERVER: 'http://127.0.0.1:9', KEYSHIFT_TOKEN: 'good' },
    });
    assert.equal(r.code, 0, r.stderr);
  });

  it('XDG_CONFIG_HOME moves the login file', async () => {
    const xdg = join(home.dir, 'xdg');
    await mkdir(join(xdg, 'keyshift'), { recursive: true });
    await writeFile(join(xdg, 'keyshift', 'credentials.json'), JSON.stringify({ server: api.url, token: 'from-xdg' }), { mode: 0o600 });
    const r = await run(['whoami'], { home: home.dir, env: { XDG_CONFIG_HOME: xdg } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(lastAuth(), 'Bearer from-xdg');
  });

  it("the login file's token is never sent to a different server", async () => {
    await writeLoginFile('http://127.0.0.1:9', 'from-file');
    const r = await run(['whoami', '--server', api.url], { home: home.dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no API token for/);
    assert.equal(api.seen.length, 0);
  });

  it('login checks the token with /me and writes the credentials file readable only by the owner', async () => {
    const r = await run(['login', '--server', api.url, '--token', 'good'], { home: home.dir });
    assert.equal(r.code, 0, r.stderr);
    const path = join(home.dir, '.config', 'keyshift', 'credentials.json');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { server: api.url, token: 'good' });
    assert.doesNotMatch(r.stdout + r.stderr, /\bgood\b/);
    const again = await run(['whoami'], { home: home.dir });
    assert.equal(again.code, 0, again.stderr);
  });

  it('login tightens an existing credentials file that others could read', async () => {
    await writeLoginFile(api.url, 'old');
    const path = join(home.dir, '.config', 'keyshift', 'credentials.json');
    const { chmod } = await import('node:fs/promises');
    await chmod(path, 0o644);
    const r = await run(['login', '--server', api.url, '--token', 'good'], { home: home.dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  });

  it('login with a token the server rejects exits 1 and writes nothing', async () => {
    const r = await run(['login', '--server', api.url, '--token', 'bad'], { home: home.dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: token not recognised \(UNAUTHENTICATED\)/);
    await assert.rejects(stat(join(home.dir, '.config', 'keyshift', 'credentials.json')));
  });

  it('login without --token is a usage error that says browser login is not available yet', async () => {
    const r = await run(['login', '--server', api.url], { home: home.dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /OIDC/);
  });

  it('a command without any token says how to get one, and exits 1', async () => {
    const r = await run(['grants'], { home: home.dir, env: { KEYSHIFT_SERVER: api.url } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /keyshift login/);
  });

  it('an unreachable server is a failure naming the server, not a crash', async () => {
    const r = await run(['whoami'], { home: home.dir, env: { KEYSHIFT_SERVER: 'http://127.0.0.1:9', KEYSHIFT_TOKEN: 'secret-t0ken' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the Keyshift server at http:\/\/127\.0\.0\.1:9/);
    assert.doesNotMatch(r.stderr, /secret-t0ken/);
  });

  it('a server URL that is not http(s) is a usage error', async () => {
    const r = await run(['whoami', '--server', 'ftp://example.com'], { home: home.dir, env: { KEYSHIFT_TOKEN: 'good' } });
    assert.equal(r.code, 2);
  });
});
