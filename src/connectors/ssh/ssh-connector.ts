/**
 * SSH certificate connector: Keyshift is a user certificate authority. Hosts trust its CA
 * key (`TrustedUserCAKeys`) and refuse revoked certificates (`RevokedKeys`, a KRL they
 * fetch from Keyshift); nothing is ever provisioned on a host. A grant's access is a
 * short-lived cert-v01 certificate for the grantee's own public key:
 *
 *   key ID = grant ID (sshd logs it: `Accepted certificate ID "grt_…"`), principals from
 *   the profile, valid-after = now − clock skew, valid-before = the grant's end (the
 *   target-side guard), a random non-zero 64-bit serial (what the KRL revokes).
 *
 * Limits, documented in docs/connectors/ssh.md: sshd does not end a session that was
 * opened before revocation, and the KRL only protects hosts that refresh it.
 */
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import sshpk from 'sshpk';
import { z } from 'zod';
import type { Connector, ConnectorDeps, ConnectorGrantContext, ConnectorModule, ConnectorState, CredentialsInput, IssuedCredentials } from '../connector.ts';
import { KeyshiftError } from '../../core/errors.ts';
import { encodeKrl } from './krl.ts';

// ---------------------------------------------------------------------------------------
// Schemas

export const SshConfigSchema = z.strictObject({
  /** OpenSSH-format ed25519 private key; generated (0600, plus `.pub`) when absent. */
  ca_key_file: z.string().min(1, 'ca_key_file must name a file'),
  /** How far valid-after is backdated, so hosts with a slow clock accept a fresh cert. */
  clock_skew_seconds: z.number().int().min(0).max(3600).default(60),
});
export type SshConfig = z.infer<typeof SshConfigSchema>;

/** Unix user names as shadow-utils accepts them, which is also a safe principal name. */
const PRINCIPAL_PATTERN = /^[a-z_][a-z0-9_.-]{0,31}$/;

export const SSH_EXTENSIONS = [
  'permit-X11-forwarding',
  'permit-agent-forwarding',
  'permit-port-forwarding',
  'permit-pty',
  'permit-user-rc',
] as const;

const CidrSchema = z.string().refine(isCidr, { message: 'must be an IP address or CIDR block such as 10.0.0.0/8 or 2001:db8::/32' });

const unique = <T>(list: T[]) => new Set(list).size === list.length;

export const SshAccessSchema = z.strictObject({
  principals: z
    .array(z.string().regex(PRINCIPAL_PATTERN, { message: 'principal must be a unix user name: lower-case letters, digits, _ . - (not first), at most 32 characters' }))
    .min(1, 'principals must list at least one name')
    .max(64)
    .refine(unique, { message: 'principals must not repeat' }),
  extensions: z
    .array(z.enum(SSH_EXTENSIONS, { message: `extension must be one of ${SSH_EXTENSIONS.join(', ')}` }))
    .refine(unique, { message: 'extensions must not repeat' })
    .default(['permit-pty']),
  /** Becomes the `source-address` critical option: sshd refuses the cert from elsewhere. */
  source_address: z.array(CidrSchema).min(1).max(64).optional(),
  /** Becomes the `force-command` critical option. */
  force_command: z
    .string()
    .min(1)
    .max(4096)
    .refine((s) => !/[\0\r\n]/.test(s), { message: 'force_command must be one line' })
    .optional(),
});
export type SshAccess = z.infer<typeof SshAccessSchema>;

function isCidr(value: string): boolean {
  const [address, prefix, ...rest] = value.split('/');
  if (rest.length > 0 || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** What the connector persists per grant. Holds no secret (a public key is not one). */
const CertRecordSchema = z.object({
  /** Decimal, 1..2^64-1 (JSON numbers cannot hold 64 bits). */
  serial: z.string().refine((s) => /^[1-9]\d{0,19}$/.test(s) && BigInt(s) < 1n << 64n),
  valid_before: z.string(),
  fingerprint: z.string(),
});
type CertRecord = z.infer<typeof CertRecordSchema>;

// ---------------------------------------------------------------------------------------
// The CA key

const CERT_SUFFIX = '-cert-v01@openssh.com';

interface LoadedCa {
  key: sshpk.PrivateKey;
  publicLine: string;
  fingerprint: string;
}

function configError(connector: string, message: string, cause?: unknown): KeyshiftError {
  return new KeyshiftError('CONFIG_INVALID', `connector ${JSON.stringify(connector)}: ${message}`, cause === undefined ? {} : { cause });
}

/**
 * Loads the CA key, or creates it when the file does not exist. The file must be an
 * unencrypted ed25519 private key readable by its owner only: an RSA CA would sign with
 * ssh-rsa (SHA-1), which current sshd refuses, and a readable CA key lets anyone mint
 * access to every host. Creation uses O_EXCL, so two starting replicas cannot overwrite
 * each other's key.
 */
function loadOrCreateCa(connector: string, path: string): LoadedCa {
  const existing = readCa(connector, path);
  if (existing) return existing;
  const key = sshpk.generatePrivateKey('ed25519');
  key.comment = 'keyshift-ca';
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, key.toString('ssh'), { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600); // the umask may have removed bits, never added: make it exact
    writeFileSync(`${path}.pub`, key.toPublic().toString('ssh') + '\n', { mode: 0o644 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw configError(connector, `cannot create CA key ${path}: ${(e as Error).message}`, e);
    }
  }
  return loadCa(connector, path);
}

/** Loads the CA key; throws CONFIG_INVALID when it is missing or unfit. */
function loadCa(connector: string, path: string): LoadedCa {
  const ca = readCa(connector, path);
  if (!ca) throw configError(connector, `CA key ${path} does not exist`);
  return ca;
}

/** Like `loadCa`, but null when the file does not exist. */
function readCa(connector: string, path: string): LoadedCa | null {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    throw configError(connector, `cannot read CA key ${path}: ${code ?? (e as Error).message}`, e);
  }
  if ((mode & 0o077) !== 0) {
    throw configError(connector, `CA key ${path} is readable or writable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${path}`);
  }
  let key: sshpk.PrivateKey;
  try {
    key = sshpk.parsePrivateKey(readFileSync(path), 'auto');
  } catch (e) {
    const encrypted = (e as Error).name === 'KeyEncryptedError';
    // Never quote the parser's message: it may contain parts of the file.
    throw configError(connector, encrypted ? `CA key ${path} is passphrase-protected; Keyshift needs an unencrypted key file (protect it with file permissions)` : `CA key ${path} is not an OpenSSH or PEM private key`);
  }
  if (key.type !== 'ed25519') {
    throw configError(connector, `CA key ${path} is a ${key.type.toUpperCase()} key; the SSH CA must be ed25519 (generate one with: ssh-keygen -t ed25519 -N '' -f ${path})`);
  }
  const pub = key.toPublic();
  return { key, publicLine: `${pub.toString('ssh').split(' ').slice(0, 2).join(' ')} keyshift-ca`, fingerprint: pub.fingerprint('sha256').toString() };
}

// ---------------------------------------------------------------------------------------
// The grantee's public key (hostile input)

const MAX_PUBLIC_KEY_LENGTH = 8192; // an RSA-16384 public key line is about 2.8 kB
const MIN_RSA_BITS = 2048;
const ACCEPTED_KEY_TYPES = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa']);

/**
 * A short, safe quotation of what the caller sent, for error messages. Anything that
 * could be private key material is described, never quoted.
 */
function describeInput(text: string): string {
  if (looksPrivate(text)) return 'a private key';
  const firstLine = text.split(/\r?\n/, 1)[0] ?? '';
  const quoted = JSON.stringify(firstLine.length > 24 ? firstLine.slice(0, 24) + '…' : firstLine);
  return `${quoted} (${text.length} characters)`;
}

function looksPrivate(text: string): boolean {
  return /PRIVATE KEY|PuTTY-User-Key-File|Private-Lines|^\s*b3BlbnNzaC1rZXktdjE/i.test(text);
}

function badKey(text: string, why: string): KeyshiftError {
  return new KeyshiftError('INVALID_INPUT', `public_key: ${why}; got ${describeInput(text)}`);
}

/** Parses exactly one OpenSSH public key line; throws INVALID_INPUT otherwise. */
export function parseUserPublicKey(input: unknown): sshpk.Key {
  if (typeof input !== 'string' || input.trim() === '') {
    throw new KeyshiftError('INVALID_INPUT', 'public_key is required: send the contents of your ~/.ssh/id_ed25519.pub');
  }
  const text = input;
  if (looksPrivate(text)) {
    throw new KeyshiftError('INVALID_INPUT', 'public_key: a private key was sent; send the public key (the .pub file) instead, and keep the private key to yourself');
  }
  if (text.length > MAX_PUBLIC_KEY_LENGTH) throw badKey(text, `longer than ${MAX_PUBLIC_KEY_LENGTH} characters`);
  const line = text.trim();
  if (/[\r\n]/.test(line)) throw badKey(text, 'must be a single public key line');
  const match = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: [^\0]*)?$/.exec(line);
  if (!match) throw badKey(text, 'not an OpenSSH public key line ("ssh-ed25519 AAAA… comment")');
  const type = match[1]!;
  if (type.endsWith(CERT_SUFFIX)) throw badKey(text, 'a certificate was sent; send the plain public key it was made for');
  if (type === 'ssh-dss') throw badKey(text, 'DSA keys are not accepted; use ed25519 (ssh-keygen -t ed25519)');
  if (!ACCEPTED_KEY_TYPES.has(type)) throw badKey(text, `key type ${JSON.stringify(type.slice(0, 40))} is not accepted; use ed25519, ECDSA or RSA >= ${MIN_RSA_BITS} bits`);
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(line, 'ssh');
  } catch {
    throw badKey(text, 'the key data is not a valid public key');
  }
  // sshpk reads the type from the blob; it must agree with the label in front of it.
  const blob = key.toBuffer('rfc4253');
  const blobType = blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1');
  if (blobType !== type) throw badKey(text, 'the key type label does not match the key data');
  if (key.type === 'rsa' && key.size < MIN_RSA_BITS) throw badKey(text, `RSA keys must have at least ${MIN_RSA_BITS} bits (this one has ${key.size})`);
  return key;
}

// ---------------------------------------------------------------------------------------
// Certificates

function sshString(value: string): Buffer {
  const data = Buffer.from(value, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
}

/** A random serial in 1..2^64-1 (0 cannot be revoked through a KRL). */
function randomSerial(): Buffer {
  for (;;) {
    const b = randomBytes(8);
    if (b.readBigUInt64BE(0) !== 0n) return b;
  }
}

interface SignRequest {
  grantId: string;
  userKey: sshpk.Key;
  access: SshAccess;
  validAfter: Date;
  validBefore: Date;
}

/**
 * Signs a cert-v01 user certificate. sshpk's `createCertificate` fills defaults (a 10-year
 * life, no extensions); key ID and options are set afterwards and the certificate is
 * signed again, which replaces the first signature.
 */
function signCertificate(ca: sshpk.PrivateKey, req: SignRequest): { line: string; serial: string } {
  const serial = randomSerial();
  const cert = sshpk.createCertificate(
    req.access.principals.map((p) => sshpk.identityForUser(p)),
    req.userKey,
    sshpk.identityForUser('keyshift-ca'),
    ca,
    { validFrom: req.validAfter, validUntil: req.validBefore, serial },
  );
  const openssh = cert.signatures.openssh;
  if (!openssh) throw new KeyshiftError('INTERNAL', 'sshpk produced no OpenSSH signature block');
  openssh.keyId = req.grantId;
  // OpenSSH expects both lists in lexical order of name.
  const critical: Array<[string, string]> = [];
  if (req.access.force_command !== undefined) critical.push(['force-command', req.access.force_command]);
  if (req.access.source_address !== undefined) critical.push(['source-address', req.access.source_address.join(',')]);
  critical.sort(([a], [b]) => (a < b ? -1 : 1));
  const extensions = [...req.access.extensions].sort();
  openssh.exts = [
    ...critical.map(([name, value]) => ({ critical: true, name, data: sshString(value) })),
    ...extensions.map((name) => ({ critical: false, name, data: Buffer.alloc(0) })),
  ];
  cert.signWith(ca);
  return { line: cert.toString('openssh', { comment: req.grantId }), serial: serial.readBigUInt64BE(0).toString() };
}

// ---------------------------------------------------------------------------------------
// The connector

function certRecords(state: ConnectorState): unknown[] {
  return Array.isArray(state['certs']) ? (state['certs'] as unknown[]) : [];
}

function createSshConnector(name: string, config: SshConfig, deps: ConnectorDeps): Connector {
  const caPath = resolve(deps.baseDir, config.ca_key_file);
  const ca = loadOrCreateCa(name, caPath);
  const caBlob = ca.key.toPublic().toBuffer('rfc4253');

  function issue(ctx: ConnectorGrantContext, publicKey: unknown): IssuedCredentials {
    const userKey = parseUserPublicKey(publicKey);
    if (ctx.state['revoked_at'] !== undefined) throw new KeyshiftError('CONFLICT', `grant ${ctx.grantId} was revoked; no certificate is issued`);
    const now = deps.clock.now();
    // valid-before has one-second resolution: round down so the cert never outlives the grant.
    const validBefore = new Date(Math.floor(ctx.endsAt.getTime() / 1000) * 1000);
    if (validBefore.getTime() <= now.getTime()) throw new KeyshiftError('CONFLICT', `grant ${ctx.grantId} has ended (${ctx.endsAt.toISOString()}); no certificate is issued`);
    const access = parseAccess(ctx.access);
    const validAfter = new Date(now.getTime() - config.clock_skew_seconds * 1000);
    const { line, serial } = signCertificate(ca.key, { grantId: ctx.grantId, userKey, access, validAfter, validBefore });
    const fingerprint = userKey.fingerprint('sha256').toString();
    const record: CertRecord = { serial, valid_before: validBefore.toISOString(), fingerprint };
    const publicLine = userKey.toString('ssh').split(' ').slice(0, 2).join(' ');
    return {
      kind: 'ssh_certificate',
      secret: { certificate: line, principals: access.principals.join(',') },
      expires_at: validBefore.toISOString(),
      audit: { serial, key_id: ctx.grantId, fingerprint, principals: access.principals },
      state: { ...ctx.state, certs: [...certRecords(ctx.state), record], public_key: publicLine },
    };
  }

  function parseAccess(access: unknown): SshAccess {
    const parsed = SshAccessSchema.safeParse(access);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new KeyshiftError('CONFIG_INVALID', `connector ${JSON.stringify(name)}: invalid access block at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
    }
    return parsed.data;
  }

  return {
    name,
    type: 'ssh',

    async check() {
      const info: Record<string, string> = { ca_key_file: caPath, ca_fingerprint: ca.fingerprint };
      try {
        const onDisk = loadCa(name, caPath);
        if (onDisk.fingerprint !== ca.fingerprint) {
          return { ok: false, problems: [`CA key ${caPath} changed on disk since start-up (now ${onDisk.fingerprint}); restart Keyshift`], info };
        }
        return { ok: true, problems: [], info };
      } catch (e) {
        return { ok: false, problems: [(e as Error).message], info };
      }
    },

    // Nothing exists at the target until a certificate is signed.
    async grant(ctx) {
      return { ...ctx.state, certs: certRecords(ctx.state) };
    },

    async issueCredentials(ctx, input: CredentialsInput) {
      return issue(ctx, input.publicKey);
    },

    async extend(ctx) {
      const publicKey = ctx.state['public_key'];
      if (typeof publicKey !== 'string') return { state: ctx.state };
      const credentials = issue(ctx, publicKey);
      return { state: credentials.state, credentials };
    },

    // Hosts hold nothing Keyshift can remove: revocation reaches them through the KRL.
    async revoke(ctx, { early }) {
      if (ctx.state['revoked_at'] !== undefined) return ctx.state;
      return { ...ctx.state, certs: certRecords(ctx.state), revoked_at: deps.clock.now().toISOString(), early };
    },

    revocationList(states) {
      const now = deps.clock.now().getTime();
      const serials: bigint[] = [];
      for (const state of states) {
        for (const raw of certRecords(state)) {
          const parsed = CertRecordSchema.safeParse(raw);
          if (!parsed.success) {
            // Publishing the rest beats publishing nothing: one bad row must not freeze
            // every host's list. The row is logged for an operator.
            deps.log('error', 'ssh: unreadable certificate record left out of the KRL', { connector: name, record: raw });
            continue;
          }
          const validBefore = Date.parse(parsed.data.valid_before);
          // An expired certificate is refused by sshd anyway; keep the list short. An
          // unreadable date cannot prove expiry, so that serial stays listed.
          if (Number.isNaN(validBefore) || validBefore > now) serials.push(BigInt(parsed.data.serial));
        }
      }
      const seconds = BigInt(Math.floor(now / 1000));
      return encodeKrl({ version: seconds, generatedAt: new Date(now), comment: `keyshift ${name}`, certificates: [{ caKey: caBlob, serials }] });
    },

    caPublicKey() {
      return ca.publicLine;
    },

    async close() {},
  };
}

export const sshConnectorModule: ConnectorModule<SshConfig, SshAccess> = {
  configSchema: SshConfigSchema,
  accessSchema: SshAccessSchema,
  create: createSshConnector,
};
