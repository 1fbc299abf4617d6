import type { z } from 'zod';
import { invalidInput } from '../core/errors.ts';

/** Parses a body or query with a strict zod schema; every problem becomes INVALID_INPUT. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query'): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    if (i.code === 'unrecognized_keys') return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    const path = i.path.join('.');
    return path ? `${path}: ${i.message}` : i.message;
  });
  throw invalidInput(`invalid ${where}: ${problems.join('; ')}`, { problems });
}
