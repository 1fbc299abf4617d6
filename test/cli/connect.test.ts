import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { apiError, type FakeApi, grant, profile, run, type Seen, startFakeApi, tempHome } from './harness.ts';

const PASSWORD = 'pw-S3cret!$(x)';
const GRANT = 'grt_01HZX0000000000000000000BB';
const later = () => new Date(Date.now() + 3600_000).toISOString();

function dbCredentials(scheme: 'postgres' | 'mysql') {
  return {
    grant_id: GRANT,
    kind: 'database',
    expires_at: later(),
    credentials: {
      host: 'db.internal',
      port: scheme === 'postgres' ? 5432 : 3306,
      database: 'app',
      user: 'ks_alice_1',
      password: PASSWORD,
      uri: `${scheme}://ks_alice_1:${encodeURIComponent(PASSWORD)}@db.internal/app`,
    },
  };
}

/**
 * A stand-in client: records its argv (one per line), the names of its environment
 * variables and the password it was given, then exits with FAKE_EXIT.
 */
const FAKE_CLIENT = `#!/bin/sh
out="$FAKE_OUT"
: > "$out.argv"
for a in "$@"; do printf '%s\\n' "$a" >> "$out.argv"; done
env | cut -d= -f1 | sort > "$out.envnames"
printf '%s' "\${PGPASSWORD:-\${MYSQL_PWD:-}}" > "$out.password"
exit "\${FAKE_EXIT:-0}"
`;

describe('keyshift creds and connect', () => {
  let api: FakeApi;
  let home: { dir: string; cleanup: () => Promise<void> };
  let bin: string;
  let type: 'postgres' | 'mysql' | 'ssh';
  beforeEach(async () => {
    type = 'postgres';
    api = await startFakeApi({
      [`GET /api/v1/grants/${GRANT}`]: () => ({ json: grant({ profile: `${type}-profile` }) }),
      'GET /api/v1/profiles': () => ({ json: { items: [profile(`${type}-profile`, type)] } }),
      [`POST /api/v1/grants/${GRANT}/credentials`]: (s: Seen) =>
        type === 'ssh'
          ? {
              json: {
                grant_id: GRANT,
                kind: 'ssh_certificate',
                expires_at: later(),
                credentials: { certificate: `ssh-ed25519-cert-v01@openssh.com AAAA-for-${String(s.body?.public_key).slice(0, 11)}`, principals: 'ks-alice,alice' },
              },
            }
          : { json: dbCredentials(type) },
    });
    home = await tempHome();
    bin = join(home.dir, 'bin');
    await mkdir(bin);
    for (const name of ['psql', 'mysql', 'ssh']) {
      await writeFile(join(bin, name), FAKE_CLIENT);
      await chmod(join(bin, name), 0o755);
    }
    await mkdir(join(home.dir, '.ssh'));
    await writeFile(join(home.dir, '.ssh', 'id_ed25519.pub'), 'ssh-ed25519 AAAAC3Nza alice@laptop\n');
  });
  afterEach(async () => {
    await api.close();
    await home.cleanup();
  });

  const out = () => join(home.dir, 'fake');
  const cli = (argv: string[], env: Record<string, string> = {}) =>
    run(argv, {
      home: home.dir,
      env: {
        KEYSHIFT_SERVER: api.url,
        KEYSHIFT_TOKEN: 'tok_test',
        PATH: `${bin}:${process.env.PATH}`,
        FAKE_OUT: out(),
        ...env,
      },
    });
  const recorded = async () => ({
    argv: (await readFile(`${out()}.argv`, 'utf8')).split('\n').filter(Boolean),
    envNames: (await readFile(`${out()}.envnames`, 'utf8')).split('\n').filter(Boolean),
    password: await readFile(`${out()}.password`, 'utf8'),
  });

  it('connect runs psql with the password in PGPASSWORD and never on its argv', async () => {
    const r = await cli(['connect', GRANT, '--', '-c', 'select 1']);
    assert.equal(r.code, 0, r.stderr);
    const got = await recorded();
    assert.deepEqual(got.argv, ['-c', 'select 1']);
    for (const name of ['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD']) assert.ok(got.envNames.includes(name), name);
    assert.equal(got.password, PASSWORD);
    assert.ok(!got.argv.some((a) => a.includes('pw-S3cret')));
    assert.doesNotMatch(r.stdout + r.stderr, /pw-S3cret/);
  });

  it("connect returns the client's exit code", async () => {
    const r = await cli(['connect', GRANT], { FAKE_EXIT: '7' });
    assert.equal(r.code, 7);
  });

  it('connect runs mysql with MYSQL_PWD in the environment and only user and database on argv', async () => {
    type = 'mysql';
    const r = await cli(['connect', GRANT]);
    assert.equal(r.code, 0, r.stderr);
    const got = await recorded();
    assert.deepEqual(got.argv, ['--user=ks_alice_1', 'app']);
    assert.ok(got.envNames.includes('MYSQL_PWD'));
    assert.ok(got.envNames.includes('MYSQL_HOST'));
    assert.equal(got.password, PASSWORD);
  });

  it('connect for ssh signs ~/.ssh/id_ed25519.pub and runs ssh with the certificate as principal@host', async () => {
    type = 'ssh';
    const r = await cli(['connect', GRANT, '--', 'web-1.internal:2222', 'uptime']);
    assert.equal(r.code, 0, r.stderr);
    const key = join(home.dir, '.ssh', 'id_ed25519');
    assert.deepEqual((await recorded()).argv, ['-i', key, '-o', `CertificateFile=${key}-cert.pub`, 'ssh://ks-alice@web-1.internal:2222', 'uptime']);
    const post = api.seen.find((s) => s.method === 'POST');
    assert.equal(post?.body?.public_key, 'ssh-ed25519 AAAAC3Nza alice@laptop');
  });

  it('connect for ssh without a host is a usage error', async () => {
    type = 'ssh';
    const r = await cli(['connect', GRANT]);
    assert.equal(r.code, 2);
  });

  it('connect says so when the client program is not installed', async () => {
    const r = await cli(['connect', GRANT], { PATH: '/nonexistent' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /psql is not installed or not on PATH \(CLIENT_NOT_FOUND\)/);
  });

  it('creds prints shell exports that survive eval, for postgres by default', async () => {
    const r = await cli(['creds', GRANT]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^export PGHOST=db\.internal$/m);
    assert.match(r.stdout, /^export PGPASSWORD='pw-S3cret!\$\(x\)'$/m);
    const evaluated = spawnSync('sh', ['-c', `${r.stdout}\nprintf %s "$PGPASSWORD"`], { encoding: 'utf8' });
    assert.equal(evaluated.stdout, PASSWORD);
    assert.match(r.stderr, /valid until/);
  });

  it('creds --format env for mysql prints MYSQL_ variables', async () => {
    type = 'mysql';
    const r = await cli(['creds', GRANT, '--format', 'env']);
    assert.match(r.stdout, /^export MYSQL_PWD=/m);
    assert.match(r.stdout, /^export MYSQL_TCP_PORT=3306$/m);
  });

  it('creds --format uri prints only the URI', async () => {
    const r = await cli(['creds', GRANT, '--format', 'uri']);
    assert.equal(r.stdout, `${dbCredentials('postgres').credentials.uri}\n`);
  });

  it('creds --json prints the issued credentials as one JSON value', async () => {
    const r = await cli(['creds', GRANT, '--json']);
    assert.equal((JSON.parse(r.stdout) as { kind: string }).kind, 'database');
  });

  it('creds for ssh writes the certificate next to the public key and tells the user', async () => {
    type = 'ssh';
    const pub = join(home.dir, 'keys', 'work.pub');
    await mkdir(join(home.dir, 'keys'));
    await writeFile(pub, 'ssh-ed25519 BBBB work\n');
    const r = await cli(['creds', GRANT, '--public-key', pub]);
    assert.equal(r.code, 0, r.stderr);
    const cert = join(home.dir, 'keys', 'work-cert.pub');
    assert.match(await readFile(cert, 'utf8'), /^ssh-ed25519-cert-v01@openssh.com AAAA-for-ssh-ed25519/);
    assert.match(r.stderr, new RegExp(`wrote SSH certificate ${cert}.*principals: ks-alice, alice`));
    assert.equal((await stat(cert)).isFile(), true);
  });

  it('creds for ssh without a public key file explains how to make one', async () => {
    type = 'ssh';
    const r = await cli(['creds', GRANT, '--public-key', join(home.dir, 'missing.pub')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ssh-keygen/);
    assert.equal(api.seen.some((s) => s.method === 'POST'), false);
  });

  it('creds for a grant that is not active reports the server error and exits 1', async () => {
    api.routes.set(`POST /api/v1/grants/${GRANT}/credentials`, () => apiError(409, 'CONFLICT', `grant ${GRANT} is expired`));
    const r = await cli(['creds', GRANT]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is expired \(CONFLICT\)/);
  });
});
