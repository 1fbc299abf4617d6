/**
 * Composition root: config → store → connectors → services → workers → HTTP. Small on
 * purpose; each module wires itself. `serve` is what `keyshift serve` and `npm start` run.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from './config/load.ts';
import type { LoadedConfig } from './config/load.ts';
import { openStore } from './storage/sql-store.ts';
import { connectorModules } from './connectors/registry.ts';
import type { Connector } from './connectors/connector.ts';
import { createLocalDirectory } from './identity/local-directory.ts';
import type { Clock } from './core/clock.ts';
import { systemClock, addSeconds } from './core/clock.ts';
import type { CoreDeps, Log } from './core/deps.ts';
import type { ApiToken, AuditEvent } from './core/model.ts';
import type { Store } from './core/ports.ts';
import { createGrantService } from './core/grant-service.ts';
import { createRequestService } from './core/request-service.ts';
import { createTokenService } from './core/token-service.ts';
import { createAuditService } from './core/audit-service.ts';
import { createExpiryWorker } from './core/expiry-worker.ts';
import { createOrphanSweeper } from './core/orphan-sweeper.ts';
import { createPreApprovalService } from './core/preapproval-service.ts';
import { appendAudit } from './core/audit-log.ts';
import { createHttpApp } from './http/app.ts';
import { createRotationSource } from './integrations/rotation/rotation-source.ts';
import { createWebhookNotifier } from './integrations/webhook/webhook-notifier.ts';
import { createNotificationDispatcher } from './core/notification-dispatcher.ts';
import type { Notifier } from './core/ports.ts';
import { createMetrics } from './http/metrics.ts';
import { createFileSink } from './sinks/file-sink.ts';
import { resolve } from 'node:path';

export interface KeyshiftOptions {
  configPath: string;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  log?: Log;
  /** Fastify request logging. */
  httpLogger?: boolean;
  /** Leader lease length; replicas take over this long after a leader dies. */
  leaseSeconds?: number;
}

export interface Keyshift {
  loaded: LoadedConfig;
  store: Store;
  app: FastifyInstance;
  deps: CoreDeps;
  services: {
    requests: ReturnType<typeof createRequestService>;
    grants: ReturnType<typeof createGrantService>;
    tokens: ReturnType<typeof createTokenService>;
    audit: ReturnType<typeof createAuditService>;
    sweeper: ReturnType<typeof createOrphanSweeper>;
    preapprovals: ReturnType<typeof createPreApprovalService>;
  };
  worker: ReturnType<typeof createExpiryWorker>;
  notifications: ReturnType<typeof createNotificationDispatcher>;
  /** Start-up recovery then workers: activations left by a crash, expired grants, retries, orphans. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export const stderrLog: Log = (level, msg, fields) => {
  if (level === 'debug' && !process.env.KEYSHIFT_DEBUG) return;
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }) + '\n');
};

export async function buildKeyshift(opts: KeyshiftOptions): Promise<Keyshift> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? stderrLog;
  const loaded = loadConfig(opts.configPath, opts.env ?? process.env);
  for (const w of loaded.warnings) log('warn', w);
  const { config } = loaded;
  const store = await openStore({ url: config.storage.url, baseDir: loaded.baseDir });

  const connectors = new Map<string, Connector>();
  try {
    for (const [name, c] of loaded.connectors) {
      connectors.set(name, connectorModules[c.type].create(name, c.config, { clock, baseDir: loaded.baseDir, log }));
    }
  } catch (e) {
    await Promise.all([...connectors.values()].map((c) => c.close().catch(() => undefined)));
    await store.close();
    throw e;
  }

  const directory = createLocalDirectory(config.identity.users, config.identity.admins);
  const metrics = createMetrics(store, () => clock.now());
  const sinks = config.audit.sinks.map((s) => createFileSink(store, resolve(loaded.baseDir, s.path), log));
  let worker: ReturnType<typeof createExpiryWorker> | null = null;
  let dispatcher: ReturnType<typeof createNotificationDispatcher> | null = null;
  const notifiers: Notifier[] = [];
  if (config.integrations.webhook) notifiers.push(createWebhookNotifier(config.integrations.webhook, config.server.public_url ?? null));
  const deps: CoreDeps = {
    store,
    clock,
    profiles: loaded.profiles,
    directory,
    connector(name) {
      const c = connectors.get(name);
      if (!c) throw new Error(`connector ${name} is not configured`);
      return c;
    },
    afterCommit(events: AuditEvent[]) {
      for (const s of sinks) s.kick();
      dispatcher?.kick();
      if (events.some((e) => e.action === 'grant.activated' || e.action === 'grant.extended' || e.action === 'request.created' || e.action === 'grant.revoke_failed')) worker?.poke();
    },
    onCall: new Map([['rotation', createRotationSource(config.oncall)]]),
    log,
  };
  const grants = createGrantService(deps);
  const requests = createRequestService(deps, grants);
  const tokens = createTokenService(deps);
  const audit = createAuditService(store);
  const sweeper = createOrphanSweeper(deps, connectors);
  const preapprovals = createPreApprovalService(deps);

  const instance = randomUUID();
  const leaseSeconds = opts.leaseSeconds ?? 15;
  let leaderUntil = 0;
  const isLeader = async () => {
    if (store.kind === 'sqlite') return true; // one process owns an SQLite file
    const now = clock.now();
    if (now.getTime() < leaderUntil - (leaseSeconds * 1000) / 3) return true;
    const held = await store.transaction((tx) => tx.acquireLease('expiry-worker', instance, now.toISOString(), addSeconds(now, leaseSeconds).toISOString()));
    leaderUntil = held ? now.getTime() + leaseSeconds * 1000 : 0;
    return held;
  };
  dispatcher = createNotificationDispatcher(deps, notifiers, { isLeader });
  worker = createExpiryWorker({
    store,
    clock,
    grants,
    requests,
    log,
    isLeader,
    maxSleepMs: store.kind === 'postgres' ? Math.min(30_000, (leaseSeconds * 1000) / 3) : 30_000,
    onExpired: (lagMs) => metrics.expiryLag.observe(lagMs / 1000),
  });

  let ready = false;
  const app = await createHttpApp(
    { clock, store, profiles: loaded.profiles, directory, connectors, requests, grants, tokens, audit, preapprovals, metrics: metrics.registry, maxBodyBytes: config.server.max_body_bytes, ready: () => ready },
    { logger: opts.httpLogger ?? false, metrics, log },
  );

  let sweepTimer: NodeJS.Timeout | null = null;
  let sweeping: Promise<unknown> | null = null;
  return {
    loaded,
    store,
    app,
    deps,
    services: { requests, grants, tokens, audit, sweeper, preapprovals },
    worker,
    notifications: dispatcher!,
    async start() {
      const configHash = createHash('sha256').update(readFileSync(loaded.path)).digest('hex');
      const events = await store.transaction(async (tx) => [
        await appendAudit(tx, { action: 'config.loaded', actor: 'system:server', details: { path: loaded.path, sha256: configHash, profiles: [...loaded.profiles.keys()], connectors: [...loaded.connectors.keys()], instance } }, clock.now()),
      ]);
      deps.afterCommit(events);
      // Grants left `activating` by a crash: provisioning is idempotent, finish it.
      for (const g of await store.read.listGrants({ states: ['activating'] })) await grants.activate(g.id);
      // Grants that expired while we were down are revoked before we serve anything.
      await worker!.start();
      const runSweep = () => {
        if (sweeping) return;
        sweeping = isLeader()
          .then((leader) => (leader ? sweeper.sweep() : null))
          .catch((e: unknown) => log('warn', 'orphan sweep failed', { error: String(e) }))
          .finally(() => {
            sweeping = null;
          });
      };
      runSweep();
      dispatcher!.kick();
      sweepTimer = setInterval(runSweep, 10 * 60_000);
      sweepTimer.unref();
      ready = true;
    },
    async close() {
      if (sweepTimer) clearInterval(sweepTimer);
      // A sweep still talking to a target must finish before its pools close.
      if (sweeping) await sweeping;
      dispatcher!.stop();
      await worker!.stop();
      await app.close();
      for (const s of sinks) await s.flush().catch(() => undefined);
      await Promise.all([...connectors.values()].map((c) => c.close().catch(() => undefined)));
      await store.close();
    },
  };
}

export async function serve(opts: { configPath: string; init?: boolean }): Promise<void> {
  if (opts.init && !existsSync(opts.configPath)) {
    const { initProject } = await import('./config/init.ts');
    const result = await initProject({ configPath: opts.configPath });
    process.stderr.write(`Wrote ${result.configPath}. Tokens for the example users (shown once; make more with \`keyshift token create --user EMAIL --config ${opts.configPath}\`):\n`);
    for (const t of result.tokens) process.stderr.write(`  ${t.user.padEnd(22)} ${t.token}\n`);
  }
  const ks = await buildKeyshift({ configPath: opts.configPath });
  const [host, port] = splitListen(ks.loaded.config.server.listen);
  await ks.start();
  await ks.app.listen({ host, port });
  stderrLog('info', `keyshift listening on http://${host}:${port}`, { storage: ks.store.kind, profiles: ks.loaded.profiles.size });
  await new Promise<void>((done) => {
    const stop = () => {
      stderrLog('info', 'shutting down');
      void ks.close().finally(done);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

function splitListen(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i), Number(listen.slice(i + 1))];
}

/** `keyshift token revoke ID --config FILE`: on the server host, e.g. when an admin token leaked. */
export async function revokeTokenOffline(opts: { configPath: string; id: string }): Promise<ApiToken> {
  const loaded = loadConfig(opts.configPath);
  const store = await openStore({ url: loaded.config.storage.url, baseDir: loaded.baseDir });
  try {
    const directory = createLocalDirectory(loaded.config.identity.users, loaded.config.identity.admins);
    const tokens = createTokenService({ store, clock: systemClock, directory, afterCommit: () => undefined });
    return await tokens.revoke(`local:${process.env.USER ?? 'operator'}`, true, opts.id);
  } finally {
    await store.close();
  }
}

/** `keyshift token create --config FILE`: on the server host, without a token (bootstrap). */
export async function createTokenOffline(opts: { configPath: string; user: string; ttlSeconds: number | null; label: string | null }): Promise<{ id: string; token: string; user: string; expires_at: string | null }> {
  const loaded = loadConfig(opts.configPath);
  const store = await openStore({ url: loaded.config.storage.url, baseDir: loaded.baseDir });
  try {
    const directory = createLocalDirectory(loaded.config.identity.users, loaded.config.identity.admins);
    const tokens = createTokenService({ store, clock: systemClock, directory, afterCommit: () => undefined });
    return await tokens.create(`local:${process.env.USER ?? 'operator'}`, opts.user, opts.ttlSeconds, opts.label);
  } finally {
    await store.close();
  }
}
