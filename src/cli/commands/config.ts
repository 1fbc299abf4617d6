import type { Verb } from '../command.ts';
import { opt } from '../command.ts';
import { configPath } from '../settings.ts';

/** checkConfig's result as the CLI reads it (src/config/check.ts owns the contract). */
interface CheckResult {
  ok: boolean;
  errors: string[];
  warnings: string[];
  connectors: Record<string, { ok: boolean; problems: string[] }>;
}

export const verb: Verb = {
  check: {
    usage: 'config check [--config FILE] [--connect]',
    description: [
      'Validate keyshift.yaml: schema, references between sections, ${env:…} secrets present.',
      'With --connect, also reach every connector with its admin credentials. Exits 1 on errors.',
    ].join('\n'),
    options: {
      config: { type: 'string', value: 'FILE', help: 'config to check (env KEYSHIFT_CONFIG; default ./keyshift.yaml)' },
      connect: { type: 'boolean', help: 'also connect to each connector\'s target' },
    },
    run: async (ctx) => {
      const { checkConfig } = await import('../../config/check.ts');
      const path = configPath(ctx.io, opt(ctx, 'config'));
      const result: CheckResult = await checkConfig({ configPath: path, connect: ctx.values.connect === true });
      if (ctx.json) ctx.out.value(result);
      for (const e of result.errors) ctx.out.line(`error: ${e}`);
      for (const w of result.warnings) ctx.out.line(`warning: ${w}`);
      for (const [name, c] of Object.entries(result.connectors)) {
        ctx.out.line(`connector ${name}: ${c.ok ? 'ok' : `FAILED: ${c.problems.join('; ')}`}`);
      }
      ctx.out.line(result.ok ? `${path}: ok` : `${path}: ${result.errors.length} error(s)`);
      return result.ok ? 0 : 1;
    },
  },
};
