/**
 * `keyshift config check [--connect]`: the same validation the server runs at start-up,
 * plus, with --connect, each connector's own check (reachability, admin privileges).
 */
import { loadConfig, ConfigError } from './load.ts';
import { connectorModules } from '../connectors/registry.ts';
import { systemClock } from '../core/clock.ts';
import { scrubSecrets } from '../core/errors.ts';

export interface ConfigCheckResult {
  ok: boolean;
  errors: string[];
  warnings: string[];
  connectors: Record<string, { ok: boolean; problems: string[] }>;
}

export async function checkConfig(opts: { configPath: string; connect?: boolean; env?: NodeJS.ProcessEnv }): Promise<ConfigCheckResult> {
  let loaded;
  try {
    loaded = loadConfig(opts.configPath, opts.env ?? process.env);
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, errors: e.problems, warnings: [], connectors: {} };
    throw e;
  }
  const connectors: ConfigCheckResult['connectors'] = {};
  if (opts.connect) {
    for (const [name, c] of loaded.connectors) {
      try {
        const connector = connectorModules[c.type].create(name, c.config, { clock: systemClock, baseDir: loaded.baseDir, log: () => undefined });
        try {
          const access = [...loaded.profiles.values()].filter((p) => p.connector === name).map((p) => p.access);
          const result = await connector.check({ access });
          connectors[name] = { ok: result.ok, problems: result.problems };
        } finally {
          await connector.close();
        }
      } catch (e) {
        connectors[name] = { ok: false, problems: [scrubSecrets(e instanceof Error ? e.message : String(e))] };
      }
    }
  }
  const connectorsOk = Object.values(connectors).every((c) => c.ok);
  return { ok: connectorsOk, errors: [], warnings: loaded.warnings, connectors };
}
