import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compactDuration, relative, remaining, renderTable } from '../../src/cli/output.ts';

describe('human output', () => {
  it('durations show the two largest units, like "14m 32s"', () => {
    assert.equal(compactDuration(872), '14m 32s');
    assert.equal(compactDuration(45), '45s');
    assert.equal(compactDuration(3600), '1h');
    assert.equal(compactDuration(3 * 86400 + 4 * 3600 + 59), '3d 4h');
    assert.equal(compactDuration(0), '0s');
  });

  it('times are relative to now, in the future or the past', () => {
    const now = Date.parse('2025-01-01T00:00:00.000Z');
    assert.equal(relative('2025-01-01T00:14:32.000Z', now), 'in 14m 32s');
    assert.equal(relative('2024-12-31T23:57:00.000Z', now), '3m ago');
    assert.equal(relative('2025-01-01T00:00:00.400Z', now), 'just now');
    assert.equal(relative(null, now), '-');
    assert.equal(remaining('2024-12-31T23:00:00.000Z', now), '-');
  });

  it('tables pad every column but the last and keep IDs whole', () => {
    const id = 'grt_01HZX0000000000000000000BB';
    assert.equal(renderTable(['ID', 'STATE'], [[id, 'active'], ['grt_2', 'expired']]), `ID${' '.repeat(id.length - 2)}  STATE\n${id}  active\ngrt_2${' '.repeat(id.length - 5)}  expired\n`);
  });
});
