import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, formatDuration } from '../../src/core/duration.ts';
import { newId, isId } from '../../src/core/ids.ts';
import { KeyshiftError, scrubSecrets } from '../../src/core/errors.ts';

describe('durations', () => {
  it('reads the forms people type', () => {
    assert.equal(parseDuration('90s'), 90);
    assert.equal(parseDuration('30m'), 1800);
    assert.equal(parseDuration('2h'), 7200);
    assert.equal(parseDuration('1h30m'), 5400);
    assert.equal(parseDuration('7d'), 604800);
  });

  for (const bad of ['', '2 hours', '1e9h', '1.5h', '-5m', '0s', '0m0s', 'h', '5', '5x', ' 5m', '5m ', '9999999d', null, 42, {}]) {
    it(`rejects ${JSON.stringify(bad)} with INVALID_INPUT`, () => {
      assert.throws(() => parseDuration(bad), (e: unknown) => e instanceof KeyshiftError && e.code === 'INVALID_INPUT');
    });
  }

  it('formats back compactly', () => {
    assert.equal(formatDuration(5400), '1h30m');
    assert.equal(formatDuration(0), '0s');
  });
});

describe('ids', () => {
  it('are prefixed and sort by creation time', () => {
    const a = newId('req', 1_000);
    const b = newId('req', 2_000);
    assert.ok(isId('req', a) && isId('req', b));
    assert.ok(a < b);
  });

  it('stay monotonic within one millisecond', () => {
    const ids = Array.from({ length: 1000 }, () => newId('evt', 5_000_000));
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('are checked strictly', () => {
    assert.equal(isId('grt', 'grt_../../etc'), false);
    assert.equal(isId('grt', newId('req')), false);
  });
});

describe('secret scrubbing', () => {
  it('removes URL passwords and password fragments', () => {
    const s = scrubSecrets("connect postgres://admin:hunter2@db:5432/x failed; PASSWORD 'abc''d' and password=xyz IDENTIFIED BY 'q'");
    assert.doesNotMatch(s, /hunter2|abc|xyz|'q'/);
    assert.match(s, /postgres:\/\/admin:\*\*\*@db/);
  });
});
