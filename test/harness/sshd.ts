/**
 * A real OpenSSH server for tests, and an `ssh` client to log in to it with a key and a
 * certificate. Each `startSshd` runs `/usr/sbin/sshd -D -e` on 127.0.0.1 at a free port in
 * a fresh temp dir that holds its config, host key, trusted CA key, KRL and principals
 * files. A missing sshd is a failure with the command that installs it, never a skip.
 *
 * The test sshd runs with `StrictModes no` because its files live under /tmp, whose
 * world-writable mode sshd would otherwise refuse for the principals files.
 */
import { spawn, execFile, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const SSHD = '/usr/sbin/sshd';
const INSTALL_HINT = 'apt-get update && apt-get install -y openssh-server';

export interface SshdOptions {
  /** CA public key lines for TrustedUserCAKeys. */
  trustedCaKeys: string;
  /** Unix user → principals accepted for it (AuthorizedPrincipalsFile). */
  principals: Record<string, string[]>;
}

export interface Sshd {
  port: number;
  dir: string;
  /** Replaces the RevokedKeys file atomically; sshd reads it on every authentication. */
  writeRevokedKeys(krl: Buffer): void;
  /** Everything sshd logged so far (stderr, LogLevel VERBOSE). */
  logs(): string;
  /**
   * Resolves with the log written after offset `since` (a `logs().length` taken before the
   * action) once `pattern` appears in it; rejects after `timeoutMs` (default 5 s).
   */
  waitForLog(pattern: RegExp, options?: { since?: number; timeoutMs?: number }): Promise<string>;
  stop(): Promise<void>;
}

function requireBinaries(): void {
  for (const bin of [SSHD, '/usr/bin/ssh', '/usr/bin/ssh-keygen']) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing; the SSH connector tests need a real OpenSSH. Install it with: ${INSTALL_HINT}`);
  }
}

async function freePort(): Promise<number> {
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

/** True once something on the port speaks SSH (the server's version banner). */
function bannerSeen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (data.includes('SSH-2.0-')) done(true);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(data.includes('SSH-2.0-')));
  });
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startSshd(options: SshdOptions): Promise<Sshd> {
  requireBinaries();
  // sshd refuses to start without its privilege separation directory.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'keyshift-sshd-'));
  // sshd reads a user's principals file as that user (e.g. nobody): make it reachable.
  chmodSync(dir, 0o755);
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'keyshift-test-host', '-f', join(dir, 'host_ed25519')]);
  writeFileSync(join(dir, 'trusted_ca.pub'), options.trustedCaKeys.trim() + '\n');
  writeFileSync(join(dir, 'revoked.krl'), ''); // an empty file is an empty revocation list
  mkdirSync(join(dir, 'principals'), { mode: 0o755 });
  for (const [user, names] of Object.entries(options.principals)) {
    writeFileSync(join(dir, 'principals', user), names.join('\n') + '\n', { mode: 0o644 });
  }
  // A free port can be taken between probing and sshd's bind: retry with another.
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await launch(dir, await freePort());
    } catch (e) {
      lastError = e as Error;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError ?? new Error('sshd did not start');
}

async function launch(dir: string, port: number): Promise<Sshd> {
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_ed25519')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `TrustedUserCAKeys ${join(dir, 'trusted_ca.pub')}`,
      `RevokedKeys ${join(dir, 'revoked.krl')}`,
      'AuthorizedKeysFile none',
      `AuthorizedPrincipalsFile ${join(dir, 'principals')}/%u`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UseDNS no',
      'PrintMotd no',
      'LogLevel VERBOSE',
      // Tests open several connections at once; the default 10:30:100 drops some.
      'MaxStartups 100',
      '',
    ].join('\n'),
  );
  const child: ChildProcessWithoutNullStreams = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    log += chunk.toString('utf8').replace(/\r\n/g, '\n'); // sshd -e ends lines with CRLF
    for (const l of listeners) l();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  // Never leave an sshd behind when the test process ends abruptly.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const deadline = Date.now() + 15_000;
  while (!(await bannerSeen(port))) {
    if (exited) {
      process.removeListener('exit', killOnExit);
      throw new Error(`sshd exited before accepting connections:\n${log}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      process.removeListener('exit', killOnExit);
      throw new Error(`sshd did not accept connections on 127.0.0.1:${port} within 15 s:\n${log}`);
    }
    await pause(50);
  }

  return {
    port,
    dir,
    writeRevokedKeys(krl) {
      const tmp = join(dir, `revoked.krl.${randomBytes(4).toString('hex')}`);
      writeFileSync(tmp, krl, { mode: 0o644 });
      renameSync(tmp, join(dir, 'revoked.krl'));
    },
    logs: () => log,
    waitForLog(pattern, { since = 0, timeoutMs = 5000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const recent = log.slice(since);
          if (pattern.test(recent)) {
            cleanup();
            resolve(recent);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`sshd log did not show ${pattern} within ${timeoutMs} ms:\n${log.slice(since)}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop() {
      process.removeListener('exit', killOnExit);
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exit;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------
// Client side

export interface SshIdentity {
  /** OpenSSH private key file (mode 0600). */
  privateKeyFile: string;
  /** The user's certificate file (`…-cert.pub`). */
  certificateFile: string;
}

export interface UserKey {
  privateKeyFile: string;
  publicKey: string;
}

/** A fresh user key pair made by ssh-keygen (`type` e.g. ed25519, or `rsa` with `bits`). */
export async function generateUserKey(dir: string, type = 'ed25519', bits?: number): Promise<UserKey> {
  const file = join(dir, `id_${type}_${randomBytes(6).toString('hex')}`);
  const args = ['-q', '-t', type, '-N', '', '-C', 'keyshift-test-user', '-f', file];
  if (bits !== undefined) args.push('-b', String(bits));
  await execFileP('ssh-keygen', args);
  return { privateKeyFile: file, publicKey: readFileSync(`${file}.pub`, 'utf8').trim() };
}

/** Writes a certificate line next to the key and returns the identity ssh needs. */
export function identityWithCertificate(key: UserKey, certificate: string): SshIdentity {
  const certificateFile = `${key.privateKeyFile}-${randomBytes(4).toString('hex')}-cert.pub`;
  writeFileSync(certificateFile, certificate.trim() + '\n');
  return { privateKeyFile: key.privateKeyFile, certificateFile };
}

function sshArgs(port: number, user: string, identity: SshIdentity): string[] {
  return [
    '-F', '/dev/null',
    '-p', String(port),
    '-i', identity.privateKeyFile,
    '-o', `CertificateFile=${identity.certificateFile}`,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'BatchMode=yes',
    '-o', 'PasswordAuthentication=no',
    '-o', 'KbdInteractiveAuthentication=no',
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'ConnectTimeout=10',
    '-o', 'LogLevel=ERROR',
    '-T',
    `${user}@127.0.0.1`,
  ];
}

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one command over a fresh connection; never rejects (a refused login is code 255). */
export function runSsh(port: number, user: string, identity: SshIdentity, command: string, timeoutMs = 20_000): Promise<SshResult> {
  return new Promise((resolve) => {
    const child = spawn('ssh', [...sshArgs(port, user, identity), '--', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface SshSession {
  /** Runs a command in the open session; its output, or null once the session is gone. */
  run(command: string, timeoutMs?: number): Promise<string | null>;
  isAlive(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Opens a long-lived session (a remote `sh` reading commands from stdin) and resolves
 * once it answered a first command; rejects with ssh's stderr when the login is refused.
 */
export async function openSshSession(port: number, user: string, identity: SshIdentity): Promise<SshSession> {
  const child = spawn('ssh', [...sshArgs(port, user, identity), '--', 'exec sh'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let closed = false;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of listeners) l();
  };
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
    notify();
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdin.on('error', () => {}); // writing to a dead session is reported by run()
  const closedPromise = new Promise<void>((resolve) =>
    child.on('close', () => {
      closed = true;
      notify();
      resolve();
    }),
  );

  // Commands run one at a time; each ends with a unique marker line carrying its output end.
  let queue: Promise<unknown> = Promise.resolve();
  const run = (command: string, timeoutMs = 15_000): Promise<string | null> => {
    const next = queue.then(
      () =>
        new Promise<string | null>((resolve) => {
          if (closed) return resolve(null);
          const marker = `__keyshift_${randomBytes(6).toString('hex')}__`;
          const start = stdout.length;
          const check = () => {
            const at = stdout.indexOf(marker + '\n', start);
            if (at >= 0) {
              finish(stdout.slice(start, at));
            } else if (closed) {
              finish(null);
            }
          };
          const timer = setTimeout(() => finish(null), timeoutMs);
          const finish = (value: string | null) => {
            clearTimeout(timer);
            listeners.delete(check);
            resolve(value);
          };
          listeners.add(check);
          child.stdin.write(`${command}\necho ${marker}\n`);
          check();
        }),
    );
    queue = next;
    return next;
  };
  const close = async () => {
    if (!closed) {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await closedPromise;
      clearTimeout(timer);
    }
  };

  const ready = await run('echo ready', 20_000);
  if (ready?.trim() !== 'ready') {
    await close();
    throw new Error(`ssh login as ${user} refused: ${stderr.trim() || '(no message)'}`);
  }
  return { run, isAlive: async () => (await run('true', 5000)) !== null, close };
}

/** `ssh-keygen` with arguments; never rejects (exit code in the result). */
export async function sshKeygen(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<SshResult> {
  try {
    const { stdout, stderr } = await execFileP('ssh-keygen', args, { env });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : null, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}
