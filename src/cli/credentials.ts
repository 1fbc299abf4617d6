import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Grant, IssuedCredentials, ListOf, ProfileInfo } from './api-types.ts';
import { localError } from './errors.ts';
import type { ApiClient } from './http-client.ts';
import type { CliIo } from './io.ts';

/**
 * Getting credentials for a grant, shared by creds, connect and extend. What we send
 * depends on the connector type (SSH wants the caller's public key), which the grant
 * itself does not carry, so it is looked up through the grant's profile.
 */

export type Flavor = 'postgres' | 'mysql' | 'ssh' | 'other';

export interface GrantTarget {
  grant: Grant;
  connectorType: string | null;
}

export async function grantTarget(client: ApiClient, grantId: string): Promise<GrantTarget> {
  const grant = await client.get<Grant>(`/grants/${encodeURIComponent(grantId)}`);
  const { items } = await client.get<ListOf<ProfileInfo>>('/profiles');
  const profile = items.find((p) => p.name === grant.profile);
  return { grant, connectorType: profile?.connector_type ?? null };
}

/** Best effort: is this grant on an SSH connector? (false when profiles cannot be read) */
export async function isSshGrant(client: ApiClient, grant: Grant): Promise<boolean> {
  try {
    const { items } = await client.get<ListOf<ProfileInfo>>('/profiles');
    return items.find((p) => p.name === grant.profile)?.connector_type === 'ssh';
  } catch {
    return false;
  }
}

/** After an extension without re-issued credentials, an SSH certificate still ends at the old time. */
export const STALE_CERT_HINT = (grantId: string) =>
  `an SSH certificate you hold still ends at the old time; get one valid to the new end with: keyshift creds ${grantId}`;

export function defaultPublicKey(io: CliIo): string {
  return join(io.home, '.ssh', 'id_ed25519.pub');
}

export function expandPath(io: CliIo, p: string): string {
  return p === '~' || p.startsWith('~/') ? join(io.home, p.slice(1)) : resolve(io.cwd, p);
}

/** OpenSSH's convention: `id_ed25519.pub` → `id_ed25519-cert.pub`, picked up by ssh on its own. */
export function certificatePath(publicKeyPath: string): string {
  return `${publicKeyPath.replace(/\.pub$/, '')}-cert.pub`;
}

export async function readPublicKey(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw localError(
      'PUBLIC_KEY_UNREADABLE',
      `cannot read SSH public key ${path} (${why}); pass --public-key FILE or create one with ssh-keygen -t ed25519`,
    );
  }
}

export async function issue(client: ApiClient, grantId: string, publicKey?: string): Promise<IssuedCredentials> {
  return client.post<IssuedCredentials>(
    `/grants/${encodeURIComponent(grantId)}/credentials`,
    publicKey ? { public_key: publicKey } : {},
  );
}

export async function writeCertificate(issued: IssuedCredentials, publicKeyPath: string): Promise<string> {
  const path = certificatePath(publicKeyPath);
  await writeFile(path, `${String(issued.credentials.certificate ?? '').trim()}\n`, { mode: 0o644 });
  return path;
}

/** Which client program the credentials are for; the URI scheme is the surest sign. */
export function flavorOf(issued: IssuedCredentials, connectorType: string | null): Flavor {
  if (issued.kind === 'ssh_certificate') return 'ssh';
  const scheme = String(issued.credentials.uri ?? '').split(':')[0]?.toLowerCase() ?? '';
  if (scheme === 'postgres' || scheme === 'postgresql' || connectorType === 'postgres') return 'postgres';
  if (scheme === 'mysql' || scheme === 'mariadb' || connectorType === 'mysql') return 'mysql';
  return 'other';
}

export function principals(issued: IssuedCredentials): string[] {
  const p = issued.credentials.principals;
  if (Array.isArray(p)) return p.map(String);
  return typeof p === 'string' ? p.split(',').map((s) => s.trim()).filter(Boolean) : [];
}

/** The environment the database clients read; the password only ever travels here. */
export function clientEnv(issued: IssuedCredentials, flavor: Flavor): Record<string, string> {
  const c = issued.credentials;
  const s = (k: string) => (c[k] === undefined ? undefined : String(c[k]));
  const pick = (pairs: Array<[string, string | undefined]>) =>
    Object.fromEntries(pairs.filter((p): p is [string, string] => p[1] !== undefined));
  if (flavor === 'postgres') {
    return pick([
      ['PGHOST', s('host')],
      ['PGPORT', s('port')],
      ['PGDATABASE', s('database')],
      ['PGUSER', s('user')],
      ['PGPASSWORD', s('password')],
    ]);
  }
  if (flavor === 'mysql') {
    // mysql reads host, port and password from the environment but has no variable for
    // the user or database; MYSQL_USER/MYSQL_DATABASE are for scripts, connect passes
    // those two as arguments.
    return pick([
      ['MYSQL_HOST', s('host')],
      ['MYSQL_TCP_PORT', s('port')],
      ['MYSQL_USER', s('user')],
      ['MYSQL_DATABASE', s('database')],
      ['MYSQL_PWD', s('password')],
    ]);
  }
  return Object.fromEntries(
    Object.entries(c).map(([k, v]) => [`KEYSHIFT_${k.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`, String(v)]),
  );
}

/** POSIX single-quoting, so `eval "$(keyshift creds …)"` is safe whatever the password holds. */
export function shellQuote(v: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}
