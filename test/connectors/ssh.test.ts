/**
 * The SSH certificate connector against a real sshd: the shared conformance suite, then
 * what only SSH has (certificate contents, sshd's log, the KRL, hostile public keys).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import sshpk from 'sshpk';
import { runConnectorConformance, context, type ConformanceHarness } from '../../src/connectors/testing/conformance.ts';
import type { Connector, ConnectorDeps, ConnectorState, IssuedCredentials } from '../../src/connectors/connector.ts';
import { sshConnectorModule, type SshAccess } from '../../src/connectors/ssh/ssh-connector.ts';
import { encodeKrl } from '../../src/connectors/ssh/krl.ts';
import { KeyshiftError } from '../../src/core/errors.ts';
import { ManualClock, systemClock, type Clock } from '../../src/core/clock.ts';
import { generateUserKey, identityWithCertificate, openSshSession, runSsh, sshKeygen, startSshd, type Sshd, type UserKey } from '../harness/sshd.ts';

const PRINCIPAL = 'keyshift-test';

function parseAccess(raw: unknown): SshAccess {
  const parsed = sshConnectorModule.accessSchema.safeParse(raw);
  if (!parsed.success) throw new Error(JSON.stringify(parsed.error.issues));
  return parsed.data;
}

function deps(baseDir: string, clock: Clock = systemClock): ConnectorDeps {
  return { clock, baseDir, log: () => {} };
}

function createConnector(baseDir: string, raw: Record<string, unknown>, clock?: Clock): Connector {
  const parsed = sshConnectorModule.configSchema.safeParse(raw);
  if (!parsed.success) throw new Error(JSON.stringify(parsed.error.issues));
  return sshConnectorModule.create('hosts', parsed.data, deps(baseDir, clock));
}

/** Fails unless `fn` throws a KeyshiftError with `code`; returns it for more checks. */
async function rejectsWith(fn: () => unknown, code: string): Promise<KeyshiftError> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof KeyshiftError, `expected KeyshiftError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe('ssh connector against a real sshd', () => {
  let work: string;
  let connector: Connector;
  let sshd: Sshd;
  const keys = new Map<string, UserKey>();

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'keyshift-ssh-test-'));
    connector = createConnector(work, { ca_key_file: 'ca/ssh_ca' });
    sshd = await startSshd({
      trustedCaKeys: connector.caPublicKey!(),
      principals: { root: [PRINCIPAL], nobody: ['keyshift-other'] },
    });
  });
  after(async () => {
    await sshd?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function newKey(type = 'ed25519', bits?: number): Promise<UserKey> {
    const key = await generateUserKey(work, type, bits);
    keys.set(key.publicKey, key);
    return key;
  }

  /** As core does: hosts get the KRL of grants that ended early. */
  function publishKrl(states: ConnectorState[]): void {
    sshd.writeRevokedKeys(connector.revocationList!(states.filter((s) => s['revoked_at'] !== undefined)));
  }

  function identity(key: UserKey, creds: IssuedCredentials) {
    return identityWithCertificate(key, String(creds.secret['certificate']));
  }

  const access = parseAccess({ principals: [PRINCIPAL] });

  const harness: ConformanceHarness = {
    connector: async () => connector,
    access,
    credentialsInput: async () => ({ publicKey: (await newKey()).publicKey }),
    async login(creds, input, state) {
      const key = keys.get(input.publicKey ?? '');
      if (!key) throw new Error('unknown test key');
      const id = identity(key, creds);
      publishKrl([state]);
      const session = await openSshSession(sshd.port, 'root', id);
      return {
        canUseGranted: async () => (await session.run('echo ok'))?.trim() === 'ok',
        // A unix account whose principals the certificate does not carry.
        async canUseUngranted() {
          const r = await runSsh(sshd.port, 'nobody', id, 'echo ok');
          return r.code === 0 && r.stdout.trim() === 'ok';
        },
        isAlive: () => session.isAlive(),
        close: () => session.close(),
      };
    },
    capabilities: {
      // sshd checks certificates and the KRL at authentication only; see docs/connectors/ssh.md.
      cutsLiveSessions: false,
      targetGuard: true,
      // Every certificate stays valid until it expires or its grant's serials reach the KRL.
      reissueInvalidatesEarlier: false,
      granteeReachesTarget: false,
    },
    guardSlackSeconds: 1.5,
  };

  runConnectorConformance('ssh', harness);

  describe('certificates', () => {
    it('a certificate carries the grant ID as key ID, the principals, the grant end and sorted extensions', async () => {
      const ctx = context(parseAccess({ principals: [PRINCIPAL, 'deploy'], extensions: ['permit-pty', 'permit-agent-forwarding'], source_address: ['127.0.0.1/32', '10.0.0.0/8'], force_command: 'uptime' }), {
        endsAt: new Date('2099-01-02T03:04:05.678Z'),
      });
      const key = await newKey();
      const creds = await connector.issueCredentials({ ...ctx, state: await connector.grant(ctx) }, { publicKey: key.publicKey });
      assert.equal(creds.kind, 'ssh_certificate');
      assert.equal(creds.expires_at, '2099-01-02T03:04:05.000Z');
      assert.equal(creds.secret['principals'], `${PRINCIPAL},deploy`);
      assert.match(String(creds.secret['certificate']), /^ssh-ed25519-cert-v01@openssh\.com AAAA\S+ grt_/);
      const { certificateFile } = identity(key, creds);
      const shown = await sshKeygen(['-L', '-f', certificateFile], { ...process.env, TZ: 'UTC' });
      assert.equal(shown.code, 0, shown.stderr);
      const out = shown.stdout;
      assert.match(out, /user certificate/);
      assert.ok(out.includes(`Key ID: "${ctx.grantId}"`), out);
      assert.match(out, new RegExp(`Serial: ${creds.audit['serial']}\\n`));
      assert.match(out, / to 2099-01-02T03:04:05\n/);
      assert.match(out, /Principals: \n\s+keyshift-test\n\s+deploy\n/);
      assert.match(out, /Critical Options: \n\s+force-command uptime\n\s+source-address 127\.0\.0\.1\/32,10\.0\.0\.0\/8\n/);
      assert.match(out, /Extensions: \n\s+permit-agent-forwarding\n\s+permit-pty\n/);
      assert.match(out, /using ssh-ed25519/);
      // The audit record names the certificate without any secret.
      const fingerprint = sshpk.parseKey(key.publicKey, 'ssh').fingerprint('sha256').toString();
      assert.deepEqual(creds.audit, { serial: creds.audit['serial'], key_id: ctx.grantId, fingerprint, principals: [PRINCIPAL, 'deploy'] });
      assert.match(out, new RegExp(`Public key: ED25519-CERT ${fingerprint.replace(/[+/]/g, '\\$&')}`));
      const certs = creds.state['certs'] as Array<Record<string, string>>;
      assert.deepEqual(certs, [{ serial: String(creds.audit['serial']), valid_before: creds.expires_at, fingerprint }]);
      assert.equal(creds.state['public_key'], key.publicKey.split(' ').slice(0, 2).join(' '));
    });

    it('valid-after is backdated by the configured clock skew', async () => {
      const clock = new ManualClock('2030-06-01T12:00:00Z');
      const c = createConnector(work, { ca_key_file: 'ca/ssh_ca', clock_skew_seconds: 300 }, clock);
      const key = await newKey();
      const ctx = context(access, { endsAt: new Date('2030-06-01T13:00:00Z') });
      const creds = await c.issueCredentials(ctx, { publicKey: key.publicKey });
      const shown = await sshKeygen(['-L', '-f', identity(key, creds).certificateFile], { ...process.env, TZ: 'UTC' });
      assert.match(shown.stdout, /Valid: from 2030-06-01T11:55:00 to 2030-06-01T13:00:00/);
    });

    it('sshd logs the grant ID of the certificate a user logged in with', async () => {
      const ctx = context(access);
      const key = await newKey();
      const creds = await connector.issueCredentials(ctx, { publicKey: key.publicKey });
      publishKrl([]);
      const since = sshd.logs().length;
      const r = await runSsh(sshd.port, 'root', identity(key, creds), 'echo ok');
      assert.equal(r.stdout.trim(), 'ok', r.stderr);
      await sshd.waitForLog(new RegExp(`Accepted certificate ID "${ctx.grantId}" \\(serial ${creds.audit['serial']}\\)`), { since });
    });

    it('sshd refuses a certificate whose grant has ended', async () => {
      // A connector whose clock is two hours behind signs a certificate that ended an hour ago.
      const clock = new ManualClock(new Date(Date.now() - 2 * 3600_000));
      const past = createConnector(work, { ca_key_file: 'ca/ssh_ca' }, clock);
      const ctx = context(access, { endsAt: new Date(Date.now() - 3600_000) });
      const key = await newKey();
      const creds = await past.issueCredentials(ctx, { publicKey: key.publicKey });
      publishKrl([]);
      const since = sshd.logs().length;
      const r = await runSsh(sshd.port, 'root', identity(key, creds), 'echo ok');
      assert.notEqual(r.code, 0);
      assert.notEqual(r.stdout.trim(), 'ok');
      await sshd.waitForLog(new RegExp(`Certificate invalid: expired\\n.*Failed publickey for root .* ID ${ctx.grantId} `), { since });
    });

    it('sshd refuses a certificate used from outside its source-address', async () => {
      const ctx = context(parseAccess({ principals: [PRINCIPAL], source_address: ['192.0.2.0/24'] }));
      const key = await newKey();
      const creds = await connector.issueCredentials(ctx, { publicKey: key.publicKey });
      publishKrl([]);
      const since = sshd.logs().length;
      const r = await runSsh(sshd.port, 'root', identity(key, creds), 'echo ok');
      assert.notEqual(r.stdout.trim(), 'ok');
      assert.notEqual(r.code, 0);
      await sshd.waitForLog(/not from a permitted source address \(127\.0\.0\.1\)/, { since });
    });

    it('a certificate is refused for a unix account not mapped to its principals', async () => {
      const key = await newKey();
      const creds = await connector.issueCredentials(context(access), { publicKey: key.publicKey });
      publishKrl([]);
      const id = identity(key, creds);
      assert.equal((await runSsh(sshd.port, 'root', id, 'echo ok')).stdout.trim(), 'ok');
      const since = sshd.logs().length;
      const r = await runSsh(sshd.port, 'nobody', id, 'echo ok');
      assert.notEqual(r.code, 0);
      const log = await sshd.waitForLog(/Certificate does not contain an authorized principal/, { since });
      assert.doesNotMatch(log, /Could not open/, 'refused for an unreadable principals file, not for the principal');
    });

    it('extend re-signs the last public key until the new end, and both certificates reach the KRL', async () => {
      let ctx = context(access, { endsAt: new Date(Date.now() + 60_000) });
      ctx = { ...ctx, state: await connector.grant(ctx) };
      const key = await newKey();
      const first = await connector.issueCredentials(ctx, { publicKey: key.publicKey });
      ctx = { ...ctx, state: first.state, endsAt: new Date(Date.now() + 600_000) };
      const extended = await connector.extend(ctx);
      assert.ok(extended.credentials, 'no certificate re-issued');
      assert.equal(extended.credentials.expires_at, new Date(Math.floor(ctx.endsAt.getTime() / 1000) * 1000).toISOString());
      assert.notEqual(extended.credentials.audit['serial'], first.audit['serial']);
      const id = identity(key, extended.credentials);
      publishKrl([]);
      assert.equal((await runSsh(sshd.port, 'root', id, 'echo ok')).stdout.trim(), 'ok');
      const revoked = await connector.revoke({ ...ctx, state: extended.state }, { early: true });
      assert.equal((revoked['certs'] as unknown[]).length, 2);
      publishKrl([revoked]);
      assert.notEqual((await runSsh(sshd.port, 'root', id, 'echo ok')).code, 0);
    });

    it('extend without an issued certificate only returns the state', async () => {
      const ctx = context(access);
      const state = await connector.grant(ctx);
      const result = await connector.extend({ ...ctx, state });
      assert.deepEqual(result, { state: { certs: [] } });
    });

    it('grant keeps earlier certificates and revoke keeps its first timestamp', async () => {
      let ctx = context(access);
      ctx = { ...ctx, state: await connector.grant(ctx) };
      const creds = await connector.issueCredentials(ctx, { publicKey: (await newKey()).publicKey });
      ctx = { ...ctx, state: creds.state };
      assert.deepEqual(await connector.grant(ctx), ctx.state);
      const once = await connector.revoke(ctx, { early: true });
      const twice = await connector.revoke({ ...ctx, state: once }, { early: false });
      assert.deepEqual(twice, once);
      assert.equal(once['early'], true);
      await rejectsWith(() => connector.issueCredentials({ ...ctx, state: once }, { publicKey: (keys.keys().next().value as string) }), 'CONFLICT');
    });

    it('no certificate is signed for a grant that has already ended', async () => {
      const ctx = context(access, { endsAt: new Date(Date.now() - 1000) });
      await rejectsWith(async () => connector.issueCredentials(ctx, { publicKey: (await newKey()).publicKey }), 'CONFLICT');
    });
  });

  describe('key revocation list', () => {
    it('a revoked certificate is refused through the KRL while another certificate still works', async () => {
      let revokedCtx = context(access);
      const k1 = await newKey();
      const c1 = await connector.issueCredentials(revokedCtx, { publicKey: k1.publicKey });
      revokedCtx = { ...revokedCtx, state: await connector.revoke({ ...revokedCtx, state: c1.state }, { early: true }) };
      const k2 = await newKey();
      const c2 = await connector.issueCredentials(context(access), { publicKey: k2.publicKey });
      const id1 = identity(k1, c1);
      const id2 = identity(k2, c2);

      const krlFile = join(work, 'test.krl');
      writeFileSync(krlFile, connector.revocationList!([revokedCtx.state]));
      const q1 = await sshKeygen(['-Q', '-f', krlFile, id1.certificateFile]);
      assert.match(q1.stdout, /REVOKED/);
      assert.notEqual(q1.code, 0);
      const q2 = await sshKeygen(['-Q', '-f', krlFile, id2.certificateFile]);
      assert.equal(q2.code, 0, q2.stdout + q2.stderr);
      assert.match(q2.stdout, /: ok/);

      publishKrl([revokedCtx.state]);
      const since = sshd.logs().length;
      const refused = await runSsh(sshd.port, 'root', id1, 'echo ok');
      assert.notEqual(refused.code, 0);
      await sshd.waitForLog(new RegExp(`revoked by file .*\\n.*Failed publickey for root .* ID ${revokedCtx.grantId} \\(serial ${c1.audit['serial']}\\)`), { since });
      assert.equal((await runSsh(sshd.port, 'root', id2, 'echo ok')).stdout.trim(), 'ok');
    });

    it('the KRL of no states is a valid empty list', async () => {
      const krl = connector.revocationList!([]);
      assert.equal(krl.subarray(0, 8).toString('latin1'), 'SSHKRL\n\0');
      const krlFile = join(work, 'empty.krl');
      writeFileSync(krlFile, krl);
      const key = await newKey();
      const creds = await connector.issueCredentials(context(access), { publicKey: key.publicKey });
      const q = await sshKeygen(['-Q', '-f', krlFile, identity(key, creds).certificateFile]);
      assert.equal(q.code, 0, q.stdout + q.stderr);
      assert.match(q.stdout, /: ok/);
      sshd.writeRevokedKeys(krl);
      assert.equal((await runSsh(sshd.port, 'root', identity(key, creds), 'echo ok')).stdout.trim(), 'ok');
    });

    it('sshd refuses every key while its KRL file is missing, so hosts install one before reloading', async () => {
      const key = await newKey();
      const creds = await connector.issueCredentials(context(access), { publicKey: key.publicKey });
      rmSync(join(sshd.dir, 'revoked.krl'));
      try {
        const since = sshd.logs().length;
        assert.notEqual((await runSsh(sshd.port, 'root', identity(key, creds), 'echo ok')).code, 0);
        await sshd.waitForLog(/Error checking authentication key .* in revoked keys file/, { since });
      } finally {
        publishKrl([]);
      }
    });

    it('the KRL lists each unexpired serial once, in order, and leaves out expired certificates', async () => {
      const future = new Date(Date.now() + 3600_000).toISOString();
      const pastTime = new Date(Date.now() - 1000).toISOString();
      const states: ConnectorState[] = [
        { certs: [{ serial: '300', valid_before: future, fingerprint: 'x' }, { serial: '5', valid_before: future, fingerprint: 'y' }] },
        { certs: [{ serial: '300', valid_before: future, fingerprint: 'x' }, { serial: '18446744073709551615', valid_before: future, fingerprint: 'z' }] },
        { certs: [{ serial: '77', valid_before: pastTime, fingerprint: 'old' }] },
        { certs: [{ serial: 'not-a-number' }, { serial: '18446744073709551616', valid_before: future, fingerprint: 'w' }] }, // unreadable: logged and skipped
        {},
      ];
      const krlFile = join(work, 'listed.krl');
      writeFileSync(krlFile, connector.revocationList!(states));
      const dump = await sshKeygen(['-Q', '-l', '-f', krlFile]);
      assert.equal(dump.code, 0, dump.stderr);
      const serials = [...dump.stdout.matchAll(/^serial: (\d+)$/gm)].map((m) => m[1]);
      assert.deepEqual(serials, ['5', '300', '18446744073709551615'], dump.stdout);
    });

    it('the KRL encoder writes the header and one serial-list section per CA', () => {
      const caKey = Buffer.from('ca-blob');
      const krl = encodeKrl({ version: 7n, generatedAt: new Date(1_000_000_000_000), comment: 'c', certificates: [{ caKey, serials: [2n, 1n, 2n] }, { caKey, serials: [] }] });
      const expected = Buffer.concat([
        Buffer.from('SSHKRL\n\0', 'latin1'),
        Buffer.from('00000001' + '0000000000000007' + '000000003b9aca00' + '0000000000000000' + '00000000' + '00000001', 'hex'),
        Buffer.from('c'),
        Buffer.from('01' + '00000024' + '00000007', 'hex'),
        caKey,
        Buffer.from('00000000' + '20' + '00000010' + '0000000000000001' + '0000000000000002', 'hex'),
      ]);
      assert.deepEqual(krl, expected);
      assert.throws(() => encodeKrl({ version: 1n, generatedAt: new Date(), certificates: [{ caKey, serials: [0n] }] }), RangeError);
    });
  });

  describe('public keys from the caller', () => {
    it('RSA and ECDSA public keys of a safe size are accepted', async () => {
      for (const [type, bits] of [['rsa', 3072], ['ecdsa', 256]] as const) {
        const key = await newKey(type, bits);
        const creds = await connector.issueCredentials(context(access), { publicKey: key.publicKey });
        assert.match(String(creds.secret['certificate']), new RegExp(`^${type === 'rsa' ? 'ssh-rsa' : 'ecdsa-sha2-nistp256'}-cert-v01@openssh\\.com `));
      }
    });

    it('anything but one public key line is refused with INVALID_INPUT that never echoes a private key', async () => {
      const ed = await newKey();
      const privateText = readFileSync(ed.privateKeyFile, 'utf8');
      const privateBody = privateText.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
      const shortRsa = await newKey('rsa', 1024);
      const dsa = await newKey('dsa');
      const valid = await connector.issueCredentials(context(access), { publicKey: ed.publicKey });
      const cases: Array<[string, string]> = [
        ['empty', ''],
        ['blank', '   \n'],
        ['garbage', 'hello world this is not a key'],
        ['bad base64 payload', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA'],
        ['type label that does not match the key', ed.publicKey.replace(/^ssh-ed25519/, 'ecdsa-sha2-nistp256')],
        ['two keys', `${ed.publicKey}\n${shortRsa.publicKey}`],
        ['a private key', privateText],
        ['a private key body without its armour', privateBody],
        ['a PEM private key', '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n'],
        ['a certificate', String(valid.secret['certificate'])],
        ['10 kB', 'ssh-ed25519 ' + 'A'.repeat(10_000)],
        ['a short RSA key', shortRsa.publicKey],
        ['a DSA key', dsa.publicKey],
        ['an unknown key type', 'ssh-foo AAAAB3NzaC1yc2EAAAADAQABAAABAQ'],
      ];
      for (const [label, publicKey] of cases) {
        const err = await rejectsWith(() => connector.issueCredentials(context(access), { publicKey }), 'INVALID_INPUT');
        assert.ok(err.message.length < 300, `${label}: message too long`);
        for (let i = 0; i + 16 <= privateBody.length; i += 8) {
          assert.ok(!err.message.includes(privateBody.slice(i, i + 16)), `${label}: message echoes the private key: ${err.message}`);
        }
        assert.ok(!err.message.includes('A'.repeat(100)), `${label}: message echoes the whole input`);
      }
      await rejectsWith(() => connector.issueCredentials(context(access), {}), 'INVALID_INPUT');
    });
  });

  describe('configuration', () => {
    it('a missing CA key is generated ed25519, mode 0600, with its .pub beside it', () => {
      const dir = mkdtempSync(join(work, 'gen-'));
      const c = createConnector(dir, { ca_key_file: 'deep/dir/ca' });
      const file = join(dir, 'deep/dir/ca');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.ok(existsSync(`${file}.pub`));
      const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' });
      assert.match(fingerprint, /\(ED25519\)/);
      assert.equal(readFileSync(`${file}.pub`, 'utf8').split(' ').slice(0, 2).join(' '), c.caPublicKey!().split(' ').slice(0, 2).join(' '));
      // A second start loads the same key instead of replacing it.
      const again = createConnector(dir, { ca_key_file: join(dir, 'deep/dir/ca') });
      assert.equal(again.caPublicKey!(), c.caPublicKey!());
    });

    it('check reports the CA fingerprint, and a problem when the key file becomes readable by others', async () => {
      const dir = mkdtempSync(join(work, 'check-'));
      const c = createConnector(dir, { ca_key_file: 'ca' });
      const healthy = await c.check();
      assert.equal(healthy.ok, true);
      assert.match(healthy.info['ca_fingerprint'] ?? '', /^SHA256:/);
      chmodSync(join(dir, 'ca'), 0o644);
      const bad = await c.check();
      assert.equal(bad.ok, false);
      assert.match(bad.problems.join(' '), /chmod 600/);
    });

    it('a CA key that is not ed25519 is refused at start with CONFIG_INVALID', async () => {
      const dir = mkdtempSync(join(work, 'rsa-'));
      execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', join(dir, 'ca')]);
      const err = await rejectsWith(() => createConnector(dir, { ca_key_file: 'ca' }), 'CONFIG_INVALID');
      assert.match(err.message, /RSA key; the SSH CA must be ed25519/);
    });

    it('a CA key readable by group or others is refused at start with CONFIG_INVALID', async () => {
      const dir = mkdtempSync(join(work, 'mode-'));
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ca')]);
      chmodSync(join(dir, 'ca'), 0o644);
      const err = await rejectsWith(() => createConnector(dir, { ca_key_file: 'ca' }), 'CONFIG_INVALID');
      assert.match(err.message, /mode 0644.*chmod 600/);
    });

    it('a CA key file that is not a private key, or is passphrase-protected, is refused without quoting it', async () => {
      const dir = mkdtempSync(join(work, 'junk-'));
      writeFileSync(join(dir, 'junk'), 'secret-looking-content\n', { mode: 0o600 });
      const junk = await rejectsWith(() => createConnector(dir, { ca_key_file: 'junk' }), 'CONFIG_INVALID');
      assert.ok(!junk.message.includes('secret-looking-content'));
      assert.match(junk.message, /not an OpenSSH or PEM private key/);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'passphrase', '-f', join(dir, 'enc')]);
      const enc = await rejectsWith(() => createConnector(dir, { ca_key_file: 'enc' }), 'CONFIG_INVALID');
      assert.match(enc.message, /passphrase/);
    });

    it('the config block refuses unknown keys and a missing ca_key_file', () => {
      const unknown = sshConnectorModule.configSchema.safeParse({ ca_key_file: 'x', ca_key: 'y' });
      assert.equal(unknown.success, false);
      if (!unknown.success) assert.match(JSON.stringify(unknown.error.issues), /ca_key/);
      assert.equal(sshConnectorModule.configSchema.safeParse({}).success, false);
      assert.equal(sshConnectorModule.configSchema.safeParse({ ca_key_file: 'x', clock_skew_seconds: -1 }).success, false);
      const ok = sshConnectorModule.configSchema.safeParse({ ca_key_file: 'x' });
      assert.deepEqual(ok.success && ok.data, { ca_key_file: 'x', clock_skew_seconds: 60 });
    });

    it('the access block accepts unix principal names, known extensions and CIDRs only', () => {
      const ok = sshConnectorModule.accessSchema.safeParse({ principals: ['deploy', '_svc', 'a.b-c_1'] });
      assert.deepEqual(ok.success && ok.data, { principals: ['deploy', '_svc', 'a.b-c_1'], extensions: ['permit-pty'] });
      const bad: unknown[] = [
        {},
        { principals: [] },
        { principals: ['Root'] },
        { principals: ['a,b'] },
        { principals: ['a b'] },
        { principals: ['1abc'] },
        { principals: ['-x'] },
        { principals: ['x'.repeat(33)] },
        { principals: ['ok', 'ok'] },
        { principals: ['ok'], extensions: ['permit-everything'] },
        { principals: ['ok'], extensions: ['permit-pty', 'permit-pty'] },
        { principals: ['ok'], source_address: ['10.0.0.0/33'] },
        { principals: ['ok'], source_address: ['example.com'] },
        { principals: ['ok'], source_address: ['10.0.0.0/8,0.0.0.0/0'] },
        { principals: ['ok'], force_command: 'a\nb' },
        { principals: ['ok'], unknown: true },
      ];
      for (const raw of bad) {
        assert.equal(sshConnectorModule.accessSchema.safeParse(raw).success, false, JSON.stringify(raw));
      }
      const ext = sshConnectorModule.accessSchema.safeParse({ principals: ['ok'], extensions: ['permit-everything'] });
      assert.ok(!ext.success && /permit-pty/.test(ext.error.issues[0]?.message ?? ''));
      assert.equal(sshConnectorModule.accessSchema.safeParse({ principals: ['ok'], source_address: ['2001:db8::/32', '192.0.2.1'] }).success, true);
    });
  });
});
