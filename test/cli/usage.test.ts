import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type FakeApi, run, startFakeApi, tempHome } from './harness.ts';

describe('keyshift command-line usage', () => {
  let api: FakeApi;
  let home: { dir: string; cleanup: () => Promise<void> };
  before(async () => {
    api = await startFakeApi();
    home = await tempHome();
  });
  after(async () => {
    await api.close();
    await home.cleanup();
  });
  const cli = (...argv: string[]) =>
    run(argv, { home: home.dir, env: { KEYSHIFT_SERVER: api.url, KEYSHIFT_TOKEN: 'tok_test' } });

  it('keyshift --help lists every verb and the exit codes, and exits 0', async () => {
    const r = await cli('--help');
    assert.equal(r.code, 0);
    for (const verb of ['request', 'approve', 'connect', 'audit', 'token', 'login', 'policy', 'reviews', 'review', 'preapprove', 'preapprovals', 'preapproval']) {
      assert.match(r.stdout, new RegExp(`^  ${verb} `, 'm'));
    }
    assert.match(r.stdout, /3 denied by policy/);
  });

  it('keyshift with no command prints usage to stderr and exits 2', async () => {
    const r = await cli();
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /usage: keyshift <command>/);
  });

  it('every verb answers --help with its usage without contacting the server', async () => {
    const verbs = ['init', 'serve', 'config', 'login', 'whoami', 'profiles', 'policy', 'request', 'requests', 'approve',
      'deny', 'cancel', 'grants', 'creds', 'connect', 'extend', 'release', 'revoke', 'audit', 'report', 'token',
      'reviews', 'review', 'preapprove', 'preapprovals', 'preapproval'];
    for (const verb of verbs) {
      const r = await cli(verb, '--help');
      assert.equal(r.code, 0, `${verb} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`usage: keyshift ${verb}`), verb);
    }
    assert.equal(api.seen.length, 0);
  });

  it('login help says browser login is not available yet', async () => {
    const r = await cli('login', '--help');
    assert.match(r.stdout, /OIDC\) login is not available/);
  });

  const usageCases: Array<[string, string[], RegExp]> = [
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['a command named like an object property', ['toString'], /unknown command "toString"/],
    ['an unknown sub-command', ['audit', 'constructor'], /unexpected argument "constructor"/],
    ['an unknown flag', ['grants', '--bogus'], /--bogus/],
    ['a missing argument', ['approve'], /missing REQUEST/],
    ['an extra argument', ['whoami', 'extra'], /unexpected argument "extra"/],
    ['a missing sub-command', ['config'], /needs a sub-command: check/],
    ['a flag missing its value', ['request', 'db-read', '--for'], /--for/],
    ['extend without --by', ['extend', 'grt_1'], /missing --by/],
    ['revoke without --reason', ['revoke', 'grt_1'], /missing --reason/],
    ['token create without --user', ['token', 'create'], /missing --user/],
    ['an unknown --format', ['audit', '--format', 'xml'], /--format "xml"/],
    ['an unknown --state', ['grants', '--state', 'happy'], /--state "happy"/],
    ['arguments after -- where none are taken', ['whoami', '--', 'x'], /no arguments after --/],
  ];
  for (const [what, argv, message] of usageCases) {
    it(`${what} is a usage error: exit 2 and nothing sent`, async () => {
      const before = api.seen.length;
      const r = await cli(...argv);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /\(USAGE\)/);
      assert.equal(api.seen.length, before);
    });
  }

  const badDurations: Array<[string, string[]]> = [
    ['--for', ['request', 'db-read', '--for', '2 hours']],
    ['--for', ['request', 'db-read', '--for', '1.5h']],
    ['--for', ['request', 'db-read', '--for', '0m']],
    ['--for', ['request', 'db-read', '--for=-5m']],
    ['--timeout', ['request', 'db-read', '--wait', '--timeout', '10']],
    ['--by', ['extend', 'grt_1', '--by', '30min']],
    ['--since', ['audit', '--since', 'yesterday']],
    ['--ttl', ['token', 'create', '--user', 'a@example.com', '--ttl', '1y']],
    ['--for', ['policy', 'explain', 'db-read', '--for', 'h2']],
    ['--timeout', ['extend', 'grt_1', '--by', '30m', '--wait', '--timeout', '5']],
    ['--for', ['preapprove', 'alice@example.com', 'db-read', '--for', '7days']],
  ];
  for (const [flag, argv] of badDurations) {
    it(`a bad duration for ${flag} (${argv.at(-1)}) is rejected before anything is sent`, async () => {
      const before = api.seen.length;
      const r = await cli(...argv);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`${flag} `));
      assert.equal(api.seen.length, before);
    });
  }

  it('a usage error with --json prints the error object on stdout and nothing on stderr', async () => {
    const r = await cli('request', 'db-read', '--for', 'soon', '--json');
    assert.equal(r.code, 2);
    assert.deepEqual(Object.keys(JSON.parse(r.stdout) as object), ['error']);
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'USAGE');
    assert.equal(r.stderr, '');
  });

  it('--json and --help after -- belong to the program connect runs, not to keyshift', async () => {
    const r = await cli('whoami', '--', '--json');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no arguments after --/);
  });

  it('global flags may come before the verb', async () => {
    api.routes.set('GET /api/v1/me', () => ({ json: { email: 'alice@example.com', groups: [], admin: false } }));
    const r = await cli('--server', api.url, '--json', 'whoami');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { email: string }).email, 'alice@example.com');
  });
});
