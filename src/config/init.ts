/**
 * `keyshift init` (and `npm start` on a fresh checkout): a starter keyshift.yaml that runs
 * with nothing but Node (SQLite + the SSH CA connector), the CA key, and one token per
 * example user, printed once.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadConfig } from './load.ts';
import { openStore } from '../storage/sql-store.ts';
import { connectorModules } from '../connectors/registry.ts';
import { createLocalDirectory } from '../identity/local-directory.ts';
import { createTokenService } from '../core/token-service.ts';
import { systemClock } from '../core/clock.ts';
import { KeyshiftError } from '../core/errors.ts';

export const STARTER_CONFIG = `# keyshift.yaml — written by \`keyshift init\`. Reference: docs/configuration.md
server:
  listen: 127.0.0.1:8080
  public_url: http://127.0.0.1:8080
storage:
  url: sqlite:data/keyshift.db        # postgres://… for teams and several replicas
identity:
  users:
    - { email: alice@example.com, groups: [engineering, sre] }
    - { email: bob@example.com,   groups: [engineering, sre-leads] }
    - { email: carol@example.com, groups: [platform, security] }
  admins: [group:platform]
connectors:
  hosts: { type: ssh, ca_key_file: data/ssh_ca }   # ed25519 CA, generated on first start
  # prod-db: { type: postgres, url: "\${env:PROD_DB_ADMIN_URL}" }  # see docs/connectors/postgres.md
profiles:
  host-shell:
    description: Shell on production hosts as the oncall user
    connector: hosts
    access: { principals: [oncall], extensions: [permit-pty] }
    duration: { default: 15m, max: 1h }
    requesters: [group:sre]
    requires: [reason]
    approval:
      rules:
        - { approvers: [group:sre-leads], count: 1 }
    request_ttl: 30m
    extend: { max_times: 2, max_total: 2h }
    break_glass: { allowed: true, review_within: 24h }
  host-shell-readonly:
    description: Log reading on production hosts (no approval needed)
    connector: hosts
    access: { principals: [logs], extensions: [] }
    duration: { default: 30m, max: 2h }
    requesters: [group:engineering]
    requires: [reason]
audit:
  sinks: [ { type: file, path: data/audit.jsonl } ]
`;

const EXAMPLE_USERS = ['alice@example.com', 'bob@example.com', 'carol@example.com'];

export async function initProject(opts: { configPath: string; force?: boolean }): Promise<{ configPath: string; created: boolean; tokens: Array<{ user: string; token: string }> }> {
  const configPath = resolve(opts.configPath);
  if (existsSync(configPath) && !opts.force) {
    throw new KeyshiftError('CONFLICT', `${opts.configPath} already exists; keyshift init never overwrites it (pass --force to replace it)`);
  }
  mkdirSync(dirname(configPath), { recursive: true });
  writeFileSync(configPath, STARTER_CONFIG, { mode: 0o644 });
  const loaded = loadConfig(configPath);
  // Creating each connector once generates the SSH CA key if it is absent.
  for (const [name, c] of loaded.connectors) {
    const connector = connectorModules[c.type].create(name, c.config, { clock: systemClock, baseDir: loaded.baseDir, log: () => undefined });
    await connector.close();
  }
  const store = await openStore({ url: loaded.config.storage.url, baseDir: loaded.baseDir });
  try {
    const directory = createLocalDirectory(loaded.config.identity.users, loaded.config.identity.admins);
    const tokens = createTokenService({ store, clock: systemClock, directory, afterCommit: () => undefined });
    const issued: Array<{ user: string; token: string }> = [];
    for (const user of EXAMPLE_USERS) {
      const t = await tokens.create('system:init', user, 30 * 86400, 'keyshift init');
      issued.push({ user, token: t.token });
    }
    return { configPath, created: true, tokens: issued };
  } finally {
    await store.close();
  }
}
