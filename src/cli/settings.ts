import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { localError, usageError } from './errors.ts';
import type { CliIo } from './io.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export interface StoredCredentials {
  server: string;
  token: string;
}

export interface Settings {
  server: string;
  token: string | null;
  /** Where the token came from, for messages (never the token itself). */
  tokenSource: 'flag' | 'env' | 'file' | null;
}

/** `$XDG_CONFIG_HOME/keyshift/credentials.json`, else `~/.config/keyshift/credentials.json`. */
export function credentialsPath(io: CliIo): string {
  const base = io.env.XDG_CONFIG_HOME || join(io.home, '.config');
  return join(base, 'keyshift', 'credentials.json');
}

/** The config file for local verbs: --config, else KEYSHIFT_CONFIG, else ./keyshift.yaml. */
export function configPath(io: CliIo, flag: string | undefined): string {
  return resolve(io.cwd, flag || io.env.KEYSHIFT_CONFIG || 'keyshift.yaml');
}

export function normalizeServer(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`server ${JSON.stringify(raw)} is not a URL; write it like http://127.0.0.1:8080`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`server ${JSON.stringify(raw)} must be an http:// or https:// URL`);
  }
  return url.toString().replace(/\/+$/, '');
}

export async function readCredentials(io: CliIo): Promise<StoredCredentials | null> {
  const path = credentialsPath(io);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw localError('CREDENTIALS_UNREADABLE', `cannot read ${path}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw localError('CREDENTIALS_UNREADABLE', `${path} is not valid JSON; run keyshift login again`);
  }
  const rec = parsed as Partial<StoredCredentials> | null;
  if (!rec || typeof rec.server !== 'string' || typeof rec.token !== 'string') {
    throw localError('CREDENTIALS_UNREADABLE', `${path} does not hold {server, token}; run keyshift login again`);
  }
  return { server: rec.server, token: rec.token };
}

/**
 * Writes the login file readable by the owner only. The temporary file is created 0600
 * before the token is in it and then renamed, so there is no moment where the token
 * sits in a file others can read, and an older, looser file is replaced, not reused.
 */
export async function writeCredentials(io: CliIo, creds: StoredCredentials): Promise<string> {
  const path = credentialsPath(io);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600, flag: 'w' });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return path;
}

/**
 * Server and token, each by precedence flag > env > login file; the server defaults to
 * the local one. The file's token is only used for the server it was issued by, so a
 * `--server` pointing elsewhere never receives it.
 */
export async function resolveSettings(
  io: CliIo,
  flags: { server?: string | undefined; token?: string | undefined },
): Promise<Settings> {
  const file = await readCredentials(io);
  const rawServer = flags.server || io.env.KEYSHIFT_SERVER || file?.server || DEFAULT_SERVER;
  const server = normalizeServer(rawServer);
  if (flags.token) return { server, token: flags.token, tokenSource: 'flag' };
  if (io.env.KEYSHIFT_TOKEN) return { server, token: io.env.KEYSHIFT_TOKEN, tokenSource: 'env' };
  if (file && normalizeServer(file.server) === server) {
    await warnIfLoose(io, credentialsPath(io));
    return { server, token: file.token, tokenSource: 'file' };
  }
  return { server, token: null, tokenSource: null };
}

async function warnIfLoose(io: CliIo, path: string): Promise<void> {
  const mode = (await stat(path)).mode & 0o777;
  if (mode & 0o077) {
    io.stderr(`warning: ${path} is readable by others (mode ${mode.toString(8)}); run chmod 600 ${path}\n`);
  }
}
