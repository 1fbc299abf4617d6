/**
 * The PostgreSQL connector's config and access blocks, and the connection facts derived
 * from them. Parse errors never quote the admin URL: it carries a password.
 */
import { z } from 'zod';

/** Role names Keyshift creates: a short, plain prefix keeps them ≤ 63 bytes and greppable. */
const ROLE_PREFIX = /^[a-z_][a-z0-9_]{0,15}$/;

function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
  } catch {
    return false;
  }
}

export const PostgresConfigSchema = z
  .object({
    /** Admin connection, normally `${env:…}`. Never echoed in errors. */
    url: z.string().refine(isPostgresUrl, {
      message: 'must be a postgres:// or postgresql:// URL with a host (value not shown: it may hold a password)',
    }),
    /** What grantees connect to, when it differs from the admin URL (a proxy, a replica's VIP). */
    client_host: z.string().min(1).optional(),
    client_port: z.number().int().min(1).max(65535).optional(),
    database: z.string().min(1).max(63).optional(),
    /** Default per-role CONNECTION LIMIT; a profile's access block may override it. */
    connection_limit: z.number().int().min(1).max(10_000).default(5),
    role_prefix: z
      .string()
      .regex(ROLE_PREFIX, 'must be 1-16 characters of a-z, 0-9 and _, not starting with a digit')
      .default('ks_'),
    /**
     * Who receives the objects a grantee created, at revoke (REASSIGN OWNED). Default
     * `<role_prefix>orphaned_objects`, a NOLOGIN role without privileges that the connector
     * creates on first use. Not the admin role: a SECURITY DEFINER function or a view the
     * grantee left behind runs with its owner's rights, so handing it to the admin would
     * let the grant's access (and the admin's CREATEROLE) outlive the grant.
     */
    reassign_owned_to: z.string().min(1).max(63).optional(),
    /**
     * `reassign` (default) keeps what grantees created, owned by `reassign_owned_to`, which
     * then needs CREATE on each schema grantees may create functions or types in;
     * `drop` destroys it with the role (DROP OWNED), needing nothing more.
     */
    owned_objects: z.enum(['reassign', 'drop']).default('reassign'),
  })
  .strict();

export type PostgresConfig = z.infer<typeof PostgresConfigSchema>;

export const PostgresAccessSchema = z
  .object({
    /** Existing group roles the temporary role becomes a member of. */
    roles: z.array(z.string().min(1).max(63)).min(1),
    connection_limit: z.number().int().min(1).max(10_000).optional(),
  })
  .strict();

export type PostgresAccess = z.infer<typeof PostgresAccessSchema>;

/** Where the admin connects and where grantees are told to connect. */
export interface ConnectionFacts {
  adminUrl: string;
  /** The admin URL's password (URL-decoded), kept only to scrub it from any text. */
  adminPassword: string;
  adminDatabase: string;
  client: { host: string; port: number; database: string; sslmode: string | null };
}

export function connectionFacts(config: PostgresConfig): ConnectionFacts {
  const url = new URL(config.url);
  const user = decodeURIComponent(url.username);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? 5432 : Number(url.port);
  // libpq's default database is the user name.
  const adminDatabase = decodeURIComponent(url.pathname.replace(/^\//, '')) || user || 'postgres';
  return {
    adminUrl: config.url,
    adminPassword: decodeURIComponent(url.password),
    adminDatabase,
    client: {
      host: config.client_host ?? host,
      port: config.client_port ?? port,
      database: config.database ?? adminDatabase,
      sslmode: url.searchParams.get('sslmode'),
    },
  };
}
