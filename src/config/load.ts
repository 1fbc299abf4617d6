/**
 * Reads keyshift.yaml once at start-up: YAML → `${env:NAME}` secrets → schema → each
 * connector's own schema → cross-references. Every error names file, line and key, and
 * all errors are reported together. Secret keys must come from the environment.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isScalar, isMap, isSeq } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { ConfigSchema } from './schema.ts';
import type { KeyshiftConfig } from './schema.ts';
import { connectorModules } from '../connectors/registry.ts';
import type { ConnectorType } from '../connectors/connector.ts';
import type { Profile } from '../core/profile.ts';
import { parseDuration } from '../core/duration.ts';
import { KeyshiftError } from '../core/errors.ts';
import { onCallConfigProblems } from '../integrations/rotation/rotation-schema.ts';

export class ConfigError extends KeyshiftError {
  constructor(readonly problems: string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

export interface LoadedConfig {
  path: string;
  baseDir: string;
  config: KeyshiftConfig;
  profiles: Map<string, Profile>;
  /** Connector blocks parsed by their module's schema, keyed by name. */
  connectors: Map<string, { type: ConnectorType; config: unknown }>;
  warnings: string[];
}

/** Keys whose values are secrets: they must be `${env:NAME}`, never literal. */
const SECRET_KEYS = new Set(['secret', 'client_secret', 'bot_token', 'signing_secret', 'api_token', 'webhook_secret', 'password']);
const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

type PathKey = string | number;

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError([`${path}: cannot read (${code ?? 'error'})${code === 'ENOENT' ? '; create one with `keyshift init`' : ''}`]);
  }
  return parseConfig(text, absolute, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const shown = file;
  const at = (offset: number | undefined) => {
    if (offset === undefined) return shown;
    const { line, col } = lines.linePos(offset);
    return `${shown}:${line}:${col}`;
  };
  if (doc.errors.length) {
    throw new ConfigError(doc.errors.map((e) => `${at(e.pos[0])}: ${e.message.split('\n')[0]}`));
  }
  const problems: string[] = [];
  const fromEnv = new Set<string>();
  interpolate(doc, doc.contents as YamlNode | null, [], env, problems, fromEnv, at);
  let raw: unknown;
  try {
    // Anchors and aliases are fine in a config; only a pathological expansion is refused.
    raw = doc.toJS({ maxAliasCount: 10_000 }) ?? {};
  } catch (e) {
    throw new ConfigError([`${shown}: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const locate = (path: PathKey[]) => at(nodeAt(doc, path)?.range?.[0]);

  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path as PathKey[];
      const key = path.join('.') || '(top level)';
      let message = issue.message;
      if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
      const where = issue.code === 'unrecognized_keys' ? locate([...path, issue.keys[0]!]) : locate(path);
      problems.push(`${where}: ${key}: ${message}`);
    }
    throw new ConfigError(problems);
  }
  const config = parsed.data;
  const baseDir = dirname(file);
  const warnings: string[] = [];
  if (config.oncall) {
    for (const p of onCallConfigProblems(config.oncall)) {
      const path = p.path;
      problems.push(`${locate(path)}: ${path.join('.')}: ${p.message}`);
    }
  }

  for (const [key, value] of walk(raw)) {
    const last = key[key.length - 1];
    if (typeof last === 'string' && SECRET_KEYS.has(last) && typeof value === 'string' && !fromEnv.has(key.join('.'))) {
      problems.push(`${locate(key)}: ${key.join('.')}: secrets must come from the environment, e.g. "\${env:${last.toUpperCase()}}"`);
    }
  }

  const connectors = new Map<string, { type: ConnectorType; config: unknown }>();
  for (const [name, block] of Object.entries(config.connectors)) {
    const { type, ...rest } = block;
    const mod = connectorModules[type];
    const result = mod.configSchema.safeParse(rest);
    if (!result.success) {
      for (const issue of result.error.issues) {
        const path = ['connectors', name, ...(issue.path as PathKey[])];
        problems.push(`${locate(path)}: ${path.join('.')}: ${issue.message}`);
      }
      continue;
    }
    const url = (rest as { url?: unknown }).url;
    if (typeof url === 'string' && /:\/\/[^/@:]*:[^@/]+@/.test(url) && !fromEnv.has(`connectors.${name}.url`)) {
      problems.push(`${locate(['connectors', name, 'url'])}: connectors.${name}.url: a URL with a password must come from the environment, e.g. "\${env:${name.toUpperCase().replace(/-/g, '_')}_URL}"`);
    }
    connectors.set(name, { type, config: result.data });
  }

  const profiles = new Map<string, Profile>();
  for (const [name, p] of Object.entries(config.profiles)) {
    const here = (...path: PathKey[]) => `${locate(['profiles', name, ...path])}: profiles.${name}${path.length ? '.' + path.join('.') : ''}`;
    const connector = connectors.get(p.connector);
    if (!config.connectors[p.connector]) {
      problems.push(`${here('connector')}: no connector named ${JSON.stringify(p.connector)} (defined: ${Object.keys(config.connectors).join(', ') || 'none'})`);
      continue;
    }
    if (!connector) continue; // its own errors are reported above
    const access = connectorModules[connector.type].accessSchema.safeParse(p.access);
    if (!access.success) {
      for (const issue of access.error.issues) problems.push(`${here('access', ...(issue.path as PathKey[]))}: ${issue.message}`);
      continue;
    }
    const seconds = (v: string, ...path: PathKey[]) => {
      try {
        return parseDuration(v);
      } catch (e) {
        problems.push(`${here(...path)}: ${(e as Error).message}`);
        return 0;
      }
    };
    const defaultSeconds = seconds(p.duration.default, 'duration', 'default');
    const maxSeconds = seconds(p.duration.max, 'duration', 'max');
    if (defaultSeconds > maxSeconds) problems.push(`${here('duration', 'default')}: default ${p.duration.default} is longer than max ${p.duration.max}`);
    const extendTotal = p.extend ? seconds(p.extend.max_total, 'extend', 'max_total') : 0;
    if (p.extend && extendTotal < maxSeconds) problems.push(`${here('extend', 'max_total')}: max_total ${p.extend.max_total} is shorter than duration.max ${p.duration.max}`);
    const onCall = p.approval.auto_approve?.on_call;
    if (onCall?.pagerduty_schedule) {
      warnings.push(`${here('approval', 'auto_approve', 'on_call')}: on-call auto-approval from PagerDuty is not built yet; requests will need approval`);
    }
    if (onCall?.schedule && !config.oncall?.schedules[onCall.schedule]) {
      problems.push(`${here('approval', 'auto_approve', 'on_call', 'schedule')}: no on-call schedule named ${JSON.stringify(onCall.schedule)} (defined under oncall.schedules: ${Object.keys(config.oncall?.schedules ?? {}).join(', ') || 'none'})`);
    }
    if (onCall?.schedule && config.oncall?.schedules[onCall.schedule]) {
      const levels = config.oncall.schedules[onCall.schedule]!.levels.length;
      for (const l of onCall.levels) if (l > levels) problems.push(`${here('approval', 'auto_approve', 'on_call', 'levels')}: schedule ${onCall.schedule} has ${levels} level(s); there is no level ${l}`);
    }
    if (p.end_on.includes('shift_end') && onCall?.pagerduty_schedule) {
      problems.push(`${here('end_on')}: shift_end with a PagerDuty schedule needs the PagerDuty on-call source, which is not built yet; use a built-in schedule (oncall.schedules)`);
    }
    if (p.end_on.includes('shift_end') && !onCall) {
      problems.push(`${here('end_on')}: shift_end needs approval.auto_approve.on_call to name the schedule whose shifts end the grant`);
    }
    for (const c of p.end_on.filter((c) => c !== 'shift_end')) {
      warnings.push(`${here('end_on')}: ${c} needs ${c === 'incident_resolved' ? 'an incident source (PagerDuty)' : 'a ticket source (Jira)'}, which is not built yet; it is not enforced`);
    }
    p.approval.rules.forEach((rule, i) => {
      const eligible = config.identity.users.filter((u) => rule.approvers.some((s) => s === '*' || (s.startsWith('group:') ? u.groups.includes(s.slice(6)) : s.toLowerCase() === u.email.toLowerCase())));
      if (eligible.length < rule.count && !config.identity.oidc) {
        warnings.push(`${here('approval', 'rules', i)}: needs ${rule.count} approver(s) from ${rule.approvers.join(', ')} but the directory has ${eligible.length}; no request can be approved`);
      }
    });
    profiles.set(name, {
      name,
      description: p.description,
      connector: p.connector,
      connectorType: connector.type,
      access: access.data,
      defaultSeconds,
      maxSeconds,
      requesters: p.requesters,
      requires: p.requires,
      approvalRules: p.approval.rules,
      reason: { minLength: p.reason.min_length, pattern: p.reason.pattern ?? null },
      ticketPattern: p.ticket.pattern ?? null,
      incidentPattern: p.incident.pattern ?? null,
      allowOverlap: p.approval.allow_overlap,
      denialsRequired: p.approval.denials_required,
      autoApproveOnCall: onCall ? { source: onCall.pagerduty_schedule ? 'pagerduty' : 'rotation', schedule: (onCall.pagerduty_schedule ?? onCall.schedule)!, levels: onCall.levels } : null,
      requestTtlSeconds: seconds(p.request_ttl, 'request_ttl'),
      extend: p.extend ? { maxTimes: p.extend.max_times, maxTotalSeconds: extendTotal, afterElapsedPercent: Number(p.extend.after_elapsed.slice(0, -1)), approval: p.extend.approval } : null,
      breakGlass: { allowed: p.break_glass.allowed, reviewWithinSeconds: seconds(p.break_glass.review_within, 'break_glass', 'review_within') },
      endOn: p.end_on,
    });
  }

  if (config.identity.oidc) warnings.push(`${locate(['identity', 'oidc'])}: identity.oidc: OIDC login is not implemented in this version; only API tokens authenticate`);
  for (const key of Object.keys(config.integrations).filter((k) => k !== 'webhook')) {
    warnings.push(`${locate(['integrations', key])}: integrations.${key}: not implemented in this version; nothing is sent to or read from it`);
  }
  if (problems.length) throw new ConfigError(problems);
  return { path: file, baseDir, config, profiles, connectors, warnings };
}

function nodeAt(doc: Document, path: PathKey[]): YamlNode | undefined {
  let node = doc.getIn(path, true) as YamlNode | undefined;
  // For a missing key, point at the nearest parent that exists.
  for (let n = path.length - 1; !node && n >= 0; n--) node = doc.getIn(path.slice(0, n), true) as YamlNode | undefined;
  if (node && path.length) {
    // Prefer the key's position to the value's (the line people look for).
    const parent = doc.getIn(path.slice(0, -1), true);
    if (isMap(parent)) {
      const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === path[path.length - 1]);
      if (pair && isScalar(pair.key)) return pair.key as YamlNode;
    }
  }
  return node;
}

function interpolate(
  doc: Document,
  node: YamlNode | null,
  path: PathKey[],
  env: NodeJS.ProcessEnv,
  problems: string[],
  fromEnv: Set<string>,
  at: (offset: number | undefined) => string,
): void {
  if (!node) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      interpolate(doc, pair.value as YamlNode | null, [...path, key], env, problems, fromEnv, at);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => interpolate(doc, item as YamlNode, [...path, i], env, problems, fromEnv, at));
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    const original = node.value;
    let missing = false;
    const value = original.replace(ENV_REF, (_m, name: string) => {
      const v = env[name];
      if (v === undefined || v === '') {
        problems.push(`${at(node.range?.[0])}: ${path.join('.')}: environment variable ${name} is not set (no secret has a default)`);
        missing = true;
        return '';
      }
      return v;
    });
    if (/\$\{(?!env:)/.test(original)) problems.push(`${at(node.range?.[0])}: ${path.join('.')}: only \${env:NAME} references are supported`);
    if (!missing) {
      node.value = value;
      fromEnv.add(path.join('.'));
    }
  }
}

function* walk(value: unknown, path: PathKey[] = []): Generator<[PathKey[], unknown]> {
  yield [path, value];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* walk(value[i], [...path, i]);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) yield* walk(v, [...path, k]);
  }
}
