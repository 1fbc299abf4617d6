/**
 * The walkthrough as a user does it, through the real `bin/keyshift` executable: init a
 * starter config, serve it, alice requests host-shell, bob approves, alice gets an SSH
 * certificate and logs in to a real sshd that trusts Keyshift's CA, and then nobody does
 * anything: the grant expires on its own and the login is refused. A second grant that
 * alice releases early lands in the KRL, which sshd then enforces.
 *
 * Only `server.listen` / `public_url` of the starter config are changed (to a free port);
 * short durations come from `--for`, which host-shell (max 1h) allows.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateUserKey, identityWithCertificate, runSsh, sshKeygen, startSshd, type Sshd, type SshIdentity, type UserKey } from '../harness/sshd.ts';
import type { AccessRequest, AuditEvent, Grant } from '../../src/core/model.ts';
import { Cleanup, cleanEnv, cliUser, freePort, parseJsonOutput, runCli, setServerPort, spawnServer, waitFor, type CliUser, type ServerProcess } from './helpers.ts';

const GRANT_SECONDS = 8;
/** sshd runs as root here; root's AuthorizedPrincipalsFile lists `oncall`. */
const UNIX_USER = 'root';

const cleanup = new Cleanup();
let dir: string;
let configPath: string;
let server: ServerProcess;
let sshd: Sshd;
let tokens: Record<string, string>;
let alice: CliUser;
let bob: CliUser;

/** What `keyshift init` printed for a user: the line after "API token for USER". */
function tokenLines(stdout: string): Record<string, string> {
  const found: Record<string, string> = {};
  const lines = stdout.split('\n');
  lines.forEach((line, i) => {
    const m = /^API token for (\S+) /.exec(line);
    if (m) found[m[1]!] = (lines[i + 1] ?? '').trim();
  });
  return found;
}

/** `ssh-keygen -L` of a certificate, times read in UTC. */
async function describeCertificate(file: string): Promise<{ keyId: string; serial: string; validBefore: number; principals: string[]; text: string }> {
  const r = await sshKeygen(['-L', '-f', file], { ...process.env, TZ: 'UTC' });
  assert.equal(r.code, 0, r.stderr);
  const keyId = /Key ID: "([^"]*)"/.exec(r.stdout)?.[1];
  const serial = /Serial: (\d+)/.exec(r.stdout)?.[1];
  const valid = /Valid: from (\S+) to (\S+)/.exec(r.stdout);
  const principals = /Principals:\s*\n((?:\s{16,}\S+\n)+)/.exec(r.stdout)?.[1]?.trim().split(/\s+/) ?? [];
  assert.ok(keyId && serial && valid, `unexpected ssh-keygen -L output:\n${r.stdout}`);
  return { keyId, serial, validBefore: Date.parse(`${valid[2]}Z`), principals, text: r.stdout };
}

before(async () => {
  dir = cleanup.tempDir('walkthrough');
  configPath = join(dir, 'keyshift.yaml');
  const home = dir;
  const env = cleanEnv(home);

  const init = await runCli(['init', '--config', configPath], { cwd: dir, env });
  assert.equal(init.code, 0, `keyshift init failed:\n${init.stdout}\n${init.stderr}`);
  tokens = tokenLines(init.stdout);

  const port = await freePort();
  const url = setServerPort(configPath, port);
  server = spawnServer({ configPath, url, cwd: dir, home, init: true, cleanup });
  await server.waitReady();

  const as = (email: string) => cliUser({ cwd: dir, home, server: url, token: tokens[email] ?? 'missing' });
  alice = as('alice@example.com');
  bob = as('bob@example.com');

  // Hosts fetch the CA key unattended, without a token.
  const caPub = await fetch(`${url}/api/v1/connectors/hosts/ca.pub`);
  assert.equal(caPub.status, 200);
  sshd = await startSshd({ trustedCaKeys: await caPub.text(), principals: { [UNIX_USER]: ['oncall'], nobody: ['logs'] } });
  cleanup.add('stop sshd', () => sshd.stop());
});

after(async () => {
  await cleanup.run();
});

describe('the README walkthrough through bin/keyshift', () => {
  let requestId: string;
  let grant: Grant;
  let key: UserKey;
  let certFile: string;

  it('keyshift init prints one token per example user and keyshift serve --init serves the config it wrote', async () => {
    assert.deepEqual(Object.keys(tokens).sort(), ['alice@example.com', 'bob@example.com', 'carol@example.com']);
    for (const t of Object.values(tokens)) assert.ok(t.length >= 20, `token looks wrong: ${JSON.stringify(t)}`);
    const me = await alice.json<{ email: string }>(['whoami']);
    assert.equal(me.email, 'alice@example.com');
    const profiles = await alice.json<{ items: Array<{ name: string }> }>(['profiles']);
    assert.ok(profiles.items.some((p) => p.name === 'host-shell'), JSON.stringify(profiles));
  });

  it('alice requests host-shell for 8s with a reason and the request waits for approval', async () => {
    const out = await alice.json<{ request: AccessRequest; grant: Grant | null }>(['request', 'host-shell', '--for', `${GRANT_SECONDS}s`, '--reason', 'INC-1: disk full']);
    assert.equal(out.request.state, 'pending');
    assert.equal(out.request.duration_seconds, GRANT_SECONDS);
    assert.equal(out.request.reason, 'INC-1: disk full');
    assert.equal(out.grant, null);
    assert.match(out.request.id, /^req_/);
    requestId = out.request.id;
  });

  it('bob sees the request in requests --to-review, in the table and as JSON', async () => {
    const table = await bob.run(['requests', '--to-review']);
    assert.equal(table.code, 0, table.stderr);
    assert.ok(table.stdout.includes(requestId), `table does not list ${requestId}:\n${table.stdout}`);
    assert.match(table.stdout, /INC-1: disk full/);
    const listed = await bob.json<{ items: AccessRequest[] }>(['requests', '--to-review']);
    assert.deepEqual(listed.items.map((r) => r.id), [requestId]);
  });

  it('alice cannot approve her own request: exit 3 and, with --json, the error object on stdout', async () => {
    const args = ['approve', requestId, '--json'];
    const r = await alice.run(args);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const out = parseJsonOutput<{ error: { code: string; message: string } }>(args, r);
    assert.equal(out.error.code, 'POLICY_DENIED');
  });

  it('bob approves it and the grant is active for exactly the requested 8 s', async () => {
    const out = await bob.json<{ request: AccessRequest; grant: Grant | null }>(['approve', requestId]);
    assert.equal(out.request.state, 'approved');
    assert.ok(out.grant, 'approve returned no grant');
    assert.equal(out.grant.state, 'active');
    assert.match(out.grant.id, /^grt_/);
    grant = out.grant;
    assert.equal(Date.parse(grant.ends_at!) - Date.parse(grant.activated_at!), GRANT_SECONDS * 1000);
  });

  it('alice creds --public-key writes id_ed25519-cert.pub with key ID = grant ID, valid-before = the grant end, principal oncall', async () => {
    key = await generateUserKey(dir);
    // The file names a user has: ~/.ssh/id_ed25519{,.pub}, here in the test dir.
    const pub = join(dir, 'id_ed25519.pub');
    writeFileSync(pub, key.publicKey + '\n');
    writeFileSync(join(dir, 'id_ed25519'), readFileSync(key.privateKeyFile), { mode: 0o600 });
    const out = await alice.json<{ grant_id: string; kind: string; expires_at: string; certificate_file: string }>(['creds', grant.id, '--public-key', pub]);
    certFile = join(dir, 'id_ed25519-cert.pub');
    assert.equal(out.certificate_file, certFile);
    assert.ok(existsSync(certFile), 'no certificate file written');
    assert.equal(out.kind, 'ssh_certificate');

    const cert = await describeCertificate(certFile);
    assert.equal(cert.keyId, grant.id);
    assert.deepEqual(cert.principals, ['oncall']);
    const skew = Math.abs(cert.validBefore - Date.parse(grant.ends_at!));
    assert.ok(skew <= 1000, `valid-before ${new Date(cert.validBefore).toISOString()} is ${skew} ms from ends_at ${grant.ends_at}`);
  });

  it('the certificate logs in to an sshd that trusts the CA from /api/v1/connectors/hosts/ca.pub and runs echo ok', async () => {
    const since = sshd.logs().length;
    const r = await runSsh(sshd.port, UNIX_USER, { privateKeyFile: join(dir, 'id_ed25519'), certificateFile: certFile }, 'echo ok');
    assert.equal(r.code, 0, `ssh failed: ${r.stderr}\n${sshd.logs().slice(since)}`);
    assert.equal(r.stdout.trim(), 'ok');
    await sshd.waitForLog(new RegExp(`ID ${grant.id}|ID "${grant.id}"`), { since });
  });

  it('with nobody acting, keyshift grants shows the grant expired within ~2 s of its end, and the login is refused', async (t) => {
    const endsAt = Date.parse(grant.ends_at!);
    assert.ok(Date.now() < endsAt, `the steps before took longer than the ${GRANT_SECONDS} s grant; nothing left to observe`);
    let sawActive = false;
    const observed = await waitFor(
      `grant ${grant.id} to show as expired`,
      async () => {
        const { items } = await alice.json<{ items: Grant[] }>(['grants']);
        const g = items.find((x) => x.id === grant.id);
        if (g?.state === 'active') sawActive = true;
        return g?.state === 'expired' ? { grant: g, at: Date.now() } : undefined;
      },
      { timeoutMs: endsAt - Date.now() + 15_000, intervalMs: 200 },
    );
    assert.ok(sawActive, 'the grant was never seen active before it expired');
    const serverLag = Date.parse(observed.grant.ended_at!) - endsAt;
    const seenLag = observed.at - endsAt;
    t.diagnostic(`walkthrough: grant ${grant.id} ended ${serverLag} ms after ends_at; keyshift grants showed it ${seenLag} ms after`);
    assert.ok(serverLag >= 0 && serverLag < 2000, `ended_at is ${serverLag} ms after ends_at`);
    assert.ok(seenLag < 3000, `keyshift grants showed expired only ${seenLag} ms after ends_at`);
    assert.equal(observed.grant.end_reason, 'deadline reached');

    const since = sshd.logs().length;
    const r = await runSsh(sshd.port, UNIX_USER, { privateKeyFile: join(dir, 'id_ed25519'), certificateFile: certFile }, 'echo ok');
    assert.equal(r.code, 255, `ssh after expiry: exit ${r.code}, stdout ${r.stdout}`);
    assert.notEqual(r.stdout.trim(), 'ok');
    await sshd.waitForLog(/Certificate invalid: expired/, { since });

    // Nor can a fresh certificate be had for it.
    const args = ['creds', grant.id, '--public-key', join(dir, 'id_ed25519.pub'), '--json'];
    const again = await alice.run(args);
    assert.equal(again.code, 1, again.stdout + again.stderr);
    assert.equal(parseJsonOutput<{ error: { code: string } }>(args, again).error.code, 'CONFLICT');
  });

  it('keyshift audit --json tells alice the story in order and keyshift audit verify exits 0', async () => {
    const table = await alice.run(['grants']);
    assert.match(table.stdout, new RegExp(`${grant.id}\\s+expired`), table.stdout);
    const { items } = await alice.json<{ items: AuditEvent[] }>(['audit']);
    const story = items.filter((e) => e.request_id === requestId || e.grant_id === grant.id);
    assert.deepEqual(story.map((e) => e.action), ['request.created', 'request.approved', 'grant.activated', 'grant.credentials_issued', 'grant.expired']);
    const expired = story[4]!;
    assert.equal(expired.actor, 'system:expiry');
    assert.equal(story[1]!.actor, 'bob@example.com');
    assert.equal(story[3]!.actor, 'alice@example.com');
    assert.ok(story.every((e, i) => i === 0 || e.seq > story[i - 1]!.seq));

    const verify = await alice.run(['audit', 'verify']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /audit chain intact/);
    const verdict = await alice.json<{ ok: boolean; checked: number }>(['audit', 'verify']);
    assert.equal(verdict.ok, true);
  });

  describe('a second grant, released early', () => {
    let second: Grant;
    let key2: UserKey;
    let pub2: string;
    let certFile2: string;
    /** The second grant's certificate, kept aside: an extension may overwrite the file. */
    let identity2: SshIdentity;
    const krlFile = () => join(dir, 'hosts.krl');
    const fetchKrl = async () => {
      const res = await fetch(`${server.url}/api/v1/connectors/hosts/krl`);
      assert.equal(res.status, 200);
      const krl = Buffer.from(await res.arrayBuffer());
      writeFileSync(krlFile(), krl);
      return krl;
    };

    it('alice gets a second host-shell grant and logs in with its certificate, which the KRL does not list', async () => {
      const req = await alice.json<{ request: AccessRequest }>(['request', 'host-shell', '--for', '10m', '--reason', 'INC-2: follow-up']);
      const approved = await bob.json<{ grant: Grant }>(['approve', req.request.id, '--comment', 'go ahead']);
      second = approved.grant;
      key2 = await generateUserKey(dir);
      pub2 = `${key2.privateKeyFile}.pub`;
      const creds = await alice.json<{ certificate_file: string }>(['creds', second.id, '--public-key', pub2]);
      certFile2 = creds.certificate_file;
      identity2 = identityWithCertificate(key2, readFileSync(certFile2, 'utf8'));
      assert.equal((await describeCertificate(certFile2)).keyId, second.id);

      const r = await runSsh(sshd.port, UNIX_USER, identity2, 'echo ok');
      assert.equal(r.stdout.trim(), 'ok', `login failed: ${r.stderr}`);
      await fetchKrl();
      const q = await sshKeygen(['-Q', '-f', krlFile(), certFile2]);
      assert.doesNotMatch(q.stdout, /REVOKED/, 'listed in the KRL while the grant is active');
    });

    it(
      'alice extend --by 5m on host-shell asks for approval and says the extension is pending',
      async () => {
        const r = await alice.run(['extend', second.id, '--by', '5m', '--reason', 'still digging', '--public-key', pub2]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout + r.stderr, /pending/);
        assert.match(r.stdout, /req_/);
        const pending = await bob.json<{ items: Array<{ id: string; kind: string; extends_grant_id: string }> }>(['requests', '--to-review']);
        const ext = pending.items.find((x) => x.kind === 'extension' && x.extends_grant_id === second.id);
        assert.ok(ext, 'bob sees the extension request');
        const approved = await bob.run(['approve', ext!.id]);
        assert.equal(approved.code, 0, approved.stdout + approved.stderr);
        // The approver never receives the grantee's re-issued credentials.
        assert.doesNotMatch(approved.stdout, /cert-v01/);
      },
    );

    it('after alice releases it early, its certificate serial is in the KRL and sshd with that KRL refuses the certificate', async () => {
      const released = await alice.json<{ grant: Grant }>(['release', second.id]);
      assert.equal(released.grant.state, 'released');

      const krl = await fetchKrl();
      const q = await sshKeygen(['-Q', '-f', krlFile(), identity2.certificateFile]);
      assert.match(q.stdout + q.stderr, /REVOKED/, `ssh-keygen -Q: ${q.stdout}${q.stderr}`);

      sshd.writeRevokedKeys(krl);
      const since = sshd.logs().length;
      const refused = await runSsh(sshd.port, UNIX_USER, identity2, 'echo ok');
      assert.equal(refused.code, 255, `login after release: exit ${refused.code} ${refused.stdout}`);
      await sshd.waitForLog(/revoked/i, { since });

      const { items } = await alice.json<{ items: AuditEvent[] }>(['audit', '--action', 'grant.released']);
      assert.ok(items.some((e) => e.grant_id === second.id && e.actor === 'alice@example.com'));
    });
  });

  it('keyshift serve shuts down on SIGTERM and exits 0', async () => {
    await server.stop();
    assert.equal(server.child.signalCode, null, `killed by ${server.child.signalCode} after not stopping on SIGTERM within 5 s`);
    assert.equal(server.child.exitCode, 0, server.logs());
    assert.match(server.logs(), /shutting down/);
  });
});
