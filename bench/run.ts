/**
 * `npm run bench [-- --quick] [-- --only NAME[,NAME…]]`: runs the benchmarks, prints one
 * table (each figure beside a floor measured in the same run, and the ratio) and writes
 * bench/results/latest.json. A benchmark that fails is reported and the rest still run;
 * the exit code is then 1. See docs/benchmarks.md.
 */
import { cpus, arch, platform, release, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expiryLag } from './expiry-lag.ts';
import { requestApprove } from './request-approve.ts';
import { dbAccess } from './db-access.ts';
import { mariadbTarget, postgresTarget, type Target } from './lib/targets.ts';
import { ratio, type BenchResult, type Row } from './lib/stats.ts';

interface Unit {
  /** The benchmark names this unit produces rows for (what --only matches). */
  names: string[];
  run(quick: boolean, selected: (name: string) => boolean): Promise<Record<string, BenchResult>>;
}

function dbUnit(label: 'postgres' | 'mariadb', open: () => Promise<Target>): Unit {
  const access = `time-to-access/${label}`;
  const revoke = `revoke/${label}`;
  return {
    names: [access, revoke],
    async run(quick, selected) {
      const target = await open();
      try {
        const r = await dbAccess(target, quick ? { runs: 20, warmup: 3 } : { runs: 200, warmup: 10 });
        return { ...(selected(access) ? { [access]: r.access } : {}), ...(selected(revoke) ? { [revoke]: r.revoke } : {}) };
      } finally {
        await target.cleanup();
      }
    },
  };
}

const UNITS: Unit[] = [
  {
    names: ['expiry-lag/sqlite'],
    run: async (quick) => ({ 'expiry-lag/sqlite': await expiryLag({ storage: 'sqlite', grants: quick ? 100 : 1000, durationSeconds: 3 }) }),
  },
  {
    names: ['expiry-lag/postgres'],
    run: async (quick) => ({ 'expiry-lag/postgres': await expiryLag({ storage: 'postgres', grants: quick ? 100 : 1000, durationSeconds: 3 }) }),
  },
  {
    names: ['request-approve'],
    run: async (quick) => ({ 'request-approve': await requestApprove(quick ? { pairs: 100, warmup: 20, floorWarmup: 1000, concurrency: 8 } : { pairs: 2000, warmup: 300, floorWarmup: 3000, concurrency: 8 }) }),
  },
  dbUnit('postgres', postgresTarget),
  dbUnit('mariadb', mariadbTarget),
];
const ALL_NAMES = UNITS.flatMap((u) => u.names);

const USAGE = `usage: npm run bench [-- --quick] [-- --only NAME[,NAME…]]
  --quick       small N (CI smoke, under a minute)
  --only NAME   run only these benchmarks; the part before or after "/" selects a group
                (expiry-lag, revoke, postgres, mariadb…)
                (${ALL_NAMES.join(', ')})`;

function parseArgs(argv: string[]): { quick: boolean; only: string[] } {
  let quick = false;
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a === '--only' ? argv[++i] : a.slice('--only='.length);
      if (!v) throw new UsageError('--only needs a benchmark name');
      only.push(...v.split(',').map((s) => s.trim()).filter(Boolean));
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
  }
  for (const o of only) {
    if (!ALL_NAMES.some((n) => matches(n, o))) throw new UsageError(`no benchmark named ${JSON.stringify(o)}`);
  }
  return { quick, only };
}

class UsageError extends Error {}

// "expiry-lag" selects every expiry-lag variant, "postgres" every …/postgres one, a full name itself.
const matches = (name: string, wanted: string) => name === wanted || name.startsWith(wanted + '/') || name.endsWith('/' + wanted);

const fmtValue = (v: number, unit: Row['unit']): string => {
  if (!Number.isFinite(v)) return '–';
  if (unit === '/s') return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} /s`;
  const digits = v < 10 ? 2 : v < 100 ? 1 : 0;
  return `${v.toFixed(digits)} ${unit}`;
};
const fmtRatio = (r: number) => (Number.isFinite(r) ? `×${r < 10 ? r.toFixed(2) : r.toFixed(1)}` : '–');

function table(rows: Row[]): string {
  const cells = [['benchmark', 'metric', 'keyshift', 'floor', 'ratio'], ...rows.map((r) => [r.benchmark, r.metric, fmtValue(r.keyshift, r.unit), fmtValue(r.floor, r.unit), fmtRatio(ratio(r))])];
  const widths = cells[0]!.map((_, c) => Math.max(...cells.map((row) => row[c]!.length)));
  const line = (row: string[]) => '| ' + row.map((cell, c) => (c >= 2 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join(' | ') + ' |';
  return [line(cells[0]!), '|' + widths.map((w, c) => (c >= 2 ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|', ...cells.slice(1).map(line)].join('\n');
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(timer));
}

async function main(): Promise<number> {
  let args: { quick: boolean; only: string[] };
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${e.message}\n${USAGE}`);
    return 2;
  }
  const selected = (name: string) => args.only.length === 0 || args.only.some((o) => matches(name, o));
  const started = new Date();
  const machine = {
    node: process.version,
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    os: `${platform()} ${release()} ${arch()}`,
    memory_gb: Math.round(totalmem() / 2 ** 30),
  };
  console.log(`Keyshift benchmarks — ${started.toISOString()} — node ${machine.node}, ${machine.cpus} CPUs (${machine.cpu_model}), ${machine.os}${args.quick ? ' — QUICK (small N, smoke only)' : ''}`);

  const rows: Row[] = [];
  const facts: Record<string, unknown> = {};
  const failures: Array<{ benchmark: string; error: string }> = [];
  for (const unit of UNITS) {
    const names = unit.names.filter(selected);
    if (names.length === 0) continue;
    const t0 = Date.now();
    process.stdout.write(`running ${names.join(', ')} … `);
    try {
      const results = await withTimeout(unit.run(args.quick, selected), args.quick ? 60_000 : 240_000, names.join(', '));
      for (const [name, r] of Object.entries(results)) {
        rows.push(...r.rows);
        facts[name] = r.facts;
      }
      console.log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      console.log(`FAILED after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      for (const name of names) failures.push({ benchmark: name, error: message });
    }
  }

  const duration = (Date.now() - started.getTime()) / 1000;
  console.log('');
  if (rows.length) console.log(table(rows));
  console.log('\nratio = how many times worse than the floor (keyshift ÷ floor for times, floor ÷ keyshift for rates); ×1.00 is at the floor.');
  for (const f of failures) console.log(`FAILED ${f.benchmark}: ${f.error}`);
  console.log(`total ${duration.toFixed(0)} s`);

  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'latest.json');
  mkdirSync(dirname(out), { recursive: true });
  const json = {
    date: started.toISOString(),
    mode: args.quick ? 'quick' : 'full',
    only: args.only,
    machine,
    duration_s: duration,
    results: rows.map((r) => ({ ...r, ratio: ratio(r) })),
    facts,
    failures,
  };
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  console.log(`wrote ${relative(process.cwd(), out)}`);
  return failures.length ? 1 : 0;
}

// Exit explicitly: a benchmark that timed out may still hold handles open.
main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
