import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, ConfigError } from '../../src/config/load.ts';
import { STARTER_CONFIG } from '../../src/config/init.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'keyshift-config-'));
const file = join(dir, 'keyshift.yaml');

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, file, env);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected the config to be rejected');
}

const base = (profiles: string, connectors = 'hosts: { type: ssh, ca_key_file: ssh_ca }') => `
identity:
  users:
    - { email: alice@example.com, groups: [sre] }
    - { email: bob@example.com, groups: [leads] }
connectors:
  ${connectors}
profiles:
${profiles}
`;

const okProfile = `  shell:
    connector: hosts
    access: { principals: [oncall] }
    duration: { default: 15m, max: 1h }
    requesters: [group:sre]
    approval:
      rules:
        - { approvers: [group:leads], count: 1 }
`;

describe('keyshift.yaml validation', () => {
  it('the starter config written by init is valid', () => {
    const loaded = parseConfig(STARTER_CONFIG, file, {});
    assert.ok(loaded.profiles.has('host-shell'));
    assert.equal(loaded.profiles.get('host-shell')!.maxSeconds, 3600);
  });

  it('an unknown key names file, line and key', () => {
    const p = problems(base(okProfile.replace('    requesters:', '    requestors: [x]\n    requesters:')));
    assert.equal(p.length, 1);
    assert.match(p[0]!, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:13:5: profiles\\.shell: unknown key "requestors"`));
  });

  it('a YAML syntax error names the line', () => {
    const p = problems('server:\n  listen: [oops\n');
    assert.match(p[0]!, /keyshift\.yaml:\d+:\d+: /);
  });

  it('reports every problem at once', () => {
    const p = problems(base(okProfile.replace('default: 15m, max: 1h', 'default: 2 hours, max: 1e9h').replace('count: 1', 'count: 0')));
    assert.ok(p.length >= 3, p.join('\n'));
    assert.ok(p.some((x) => /duration\.default/.test(x)));
    assert.ok(p.some((x) => /duration\.max/.test(x)));
    assert.ok(p.some((x) => /rules\.0\.count/.test(x)));
  });

  it('a default longer than max is refused', () => {
    const p = problems(base(okProfile.replace('default: 15m, max: 1h', 'default: 2h, max: 1h')));
    assert.match(p[0]!, /default 2h is longer than max 1h/);
  });

  it('a profile on an unknown connector is refused, listing the defined ones', () => {
    const p = problems(base(okProfile.replace('connector: hosts', 'connector: nope')));
    assert.match(p[0]!, /no connector named "nope" \(defined: hosts\)/);
  });

  it('connector-specific access keys are checked by the connector', () => {
    const p = problems(base(okProfile.replace('principals: [oncall]', 'principals: ["root,admin"]')));
    assert.match(p[0]!, /profiles\.shell\.access\.principals/);
  });

  it('a missing environment variable is an error, never a default', () => {
    const p = problems(base(okProfile, 'db: { type: postgres, url: "${env:PROD_DB_URL}" }').replace('connector: hosts', 'connector: db').replace('principals: [oncall]', 'roles: [app_readonly]'));
    assert.match(p.join('\n'), /environment variable PROD_DB_URL is not set/);
  });

  it('a literal secret is refused: secrets come from the environment', () => {
    const p = problems(base(okProfile, 'hook: { type: webhook, url: "https://example.com/hook", secret: "hunter2hunter2" }').replace('connector: hosts', 'connector: hook'));
    assert.match(p.join('\n'), /connectors\.hook\.secret: secrets must come from the environment/);
    assert.doesNotMatch(p.join('\n'), /hunter2/);
  });

  it('a database URL with a literal password is refused without echoing it', () => {
    const p = problems(base(okProfile, 'db: { type: postgres, url: "postgres://admin:s3cret@db/x" }').replace('connector: hosts', 'connector: db').replace('principals: [oncall]', 'roles: [r]'));
    assert.match(p.join('\n'), /must come from the environment/);
    assert.doesNotMatch(p.join('\n'), /s3cret/);
  });

  it('secrets from the environment are accepted', () => {
    const loaded = parseConfig(
      base(okProfile, 'db: { type: postgres, url: "${env:DB_URL}" }').replace('connector: hosts', 'connector: db').replace('principals: [oncall]', 'roles: [r]'),
      file,
      { DB_URL: 'postgres://admin:pw@127.0.0.1/x' },
    );
    assert.equal(loaded.connectors.get('db')!.type, 'postgres');
  });

  it('warns about a rule no one in the directory can satisfy', () => {
    const loaded = parseConfig(base(okProfile.replace('group:leads], count: 1', 'group:leads], count: 2')), file, {});
    assert.match(loaded.warnings.join('\n'), /needs 2 approver\(s\) from group:leads but the directory has 1/);
  });

  it('an unknown connector type is refused', () => {
    const p = problems(base(okProfile, 'hosts: { type: telnet }'));
    assert.match(p[0]!, /connectors\.hosts\.type/);
  });

  it('an unsupported ${...} reference is refused', () => {
    const p = problems(base(okProfile).replace('description', 'x') + 'server: { public_url: "${file:/etc/passwd}" }\n');
    assert.ok(p.some((x) => /only \$\{env:NAME\}/.test(x)), p.join('\n'));
  });
});

describe('keyshift.yaml anchors', () => {
  it('a directory that reuses one anchor for many users loads', () => {
    const users = Array.from({ length: 150 }, (_, i) => (i === 0 ? `    - { email: u${i}@example.com, groups: &g [sre] }` : `    - { email: u${i}@example.com, groups: *g }`)).join('\n');
    const loaded = parseConfig(`identity:\n  users:\n${users}\nconnectors:\n  hosts: { type: ssh, ca_key_file: ssh_ca }\n`, file, {});
    assert.equal(loaded.config.identity.users.length, 150);
  });

  it('a pathological alias expansion is a config error naming the file, not a crash', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 8; i++) lines.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill('*' + String.fromCharCode(96 + i)).join(',')}]`);
    const p = problems(lines.join('\n') + '\n');
    assert.match(p[0]!, /keyshift\.yaml/);
  });
});
