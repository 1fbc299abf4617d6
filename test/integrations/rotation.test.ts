/**
 * The built-in on-call rotation source: hand-offs (weekly, daily, at the exact instant),
 * DST in Europe/Berlin and America/New_York, overrides, levels, shift ends, config
 * validation, and properties over random schedules and instants.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRotationSource, whoIsOnCall } from '../../src/integrations/rotation/rotation-source.ts';
import { OnCallConfigSchema, validateOnCallConfig } from '../../src/integrations/rotation/rotation-schema.ts';
import type { OnCallConfig, RotationOverride, RotationSchedule } from '../../src/integrations/rotation/rotation-schema.ts';
import { KeyshiftError } from '../../src/core/errors.ts';
import type { OnCallSource } from '../../src/core/ports.ts';

const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const CAROL = 'carol@example.com';
const DAVE = 'dave@example.com';
const ERIN = 'erin@example.com';

/** The example from docs/oncall.md: level 1 weekly alice/bob, level 2 daily carol, Mondays 09:00 Berlin. */
function primary(overrides: RotationOverride[] = []): RotationSchedule {
  return {
    time_zone: 'Europe/Berlin',
    levels: [
      { rotation: 'weekly', start: '2026-01-05T09:00', members: [ALICE, BOB] },
      { rotation: 'daily', start: '2026-01-05T09:00', members: [CAROL] },
    ],
    overrides,
  };
}

function config(schedule: RotationSchedule, name = 'primary'): OnCallConfig {
  return OnCallConfigSchema.parse({ schedules: { [name]: schedule } });
}

function source(schedule: RotationSchedule): OnCallSource {
  return createRotationSource(config(schedule));
}

const at = (iso: string) => new Date(iso);
const MS = 1;

function who(schedule: RotationSchedule, level: number, iso: string | Date) {
  const shift = whoIsOnCall(schedule, level, typeof iso === 'string' ? at(iso) : iso);
  return shift && { user: shift.user, start: shift.shiftStart.toISOString(), end: shift.shiftEnd.toISOString(), via: shift.via };
}

/** "2026-03-29 09:00:00" in `timeZone`, computed independently of the code under test. */
function local(d: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  }).format(d);
}

function daily(timeZone: string, start: string, members: string[]): RotationSchedule {
  return { time_zone: timeZone, levels: [{ rotation: 'daily', start, members }], overrides: [] };
}

describe('rotation hand-offs', () => {
  it('a weekly rotation hands off every week at the start time, cycling through members', () => {
    const s = primary();
    assert.deepEqual(who(s, 1, '2026-01-05T08:00:00.000Z'), { user: ALICE, start: '2026-01-05T08:00:00.000Z', end: '2026-01-12T08:00:00.000Z', via: 'rotation' });
    assert.equal(who(s, 1, '2026-01-09T23:00:00.000Z')?.user, ALICE);
    assert.deepEqual(who(s, 1, '2026-01-12T08:00:00.000Z'), { user: BOB, start: '2026-01-12T08:00:00.000Z', end: '2026-01-19T08:00:00.000Z', via: 'rotation' });
    assert.equal(who(s, 1, '2026-01-19T08:00:00.000Z')?.user, ALICE);
    assert.equal(who(s, 1, '2026-02-23T12:00:00.000Z')?.user, BOB); // week 8
  });

  it('a daily rotation hands off every day at the start time, cycling through members', () => {
    const s = daily('Europe/Berlin', '2026-01-05T09:00', [ALICE, BOB, CAROL]);
    const users = ['2026-01-05', '2026-01-06', '2026-01-07', '2026-01-08', '2026-01-09'].map((d) => who(s, 1, `${d}T08:30:00Z`)?.user);
    assert.deepEqual(users, [ALICE, BOB, CAROL, ALICE, BOB]);
    assert.equal(who(s, 1, '2026-01-06T07:59:00Z')?.user, ALICE, 'before 09:00 local it is still the previous day\'s shift');
  });

  it('the hand-off happens at exactly 09:00 local: one millisecond before is the old member, at and after it the new one', () => {
    const s = primary();
    const handOff = at('2026-01-12T08:00:00.000Z'); // 09:00 CET
    assert.equal(local(handOff, 'Europe/Berlin'), '2026-01-12 09:00:00');
    assert.equal(whoIsOnCall(s, 1, new Date(handOff.getTime() - MS))?.user, ALICE);
    assert.equal(whoIsOnCall(s, 1, handOff)?.user, BOB);
    assert.equal(whoIsOnCall(s, 1, new Date(handOff.getTime() + MS))?.user, BOB);
    assert.equal(whoIsOnCall(s, 1, new Date(handOff.getTime() - MS))?.shiftEnd.getTime(), handOff.getTime());
  });

  it('nobody is on call before the rotation starts, and the detail says when it starts', async () => {
    const s = primary();
    assert.equal(whoIsOnCall(s, 1, at('2026-01-05T07:59:59.999Z')), null);
    assert.equal(whoIsOnCall(s, 1, at('2026-01-05T08:00:00.000Z'))?.user, ALICE);
    const check = await source(s).check(ALICE, 'primary', [1], at('2026-01-01T12:00:00Z'));
    assert.equal(check.onCall, false);
    assert.equal(check.shiftEndsAt, null);
    assert.match(check.detail, /nobody is on call at level 1, whose rotation starts 2026-01-05T08:00:00\.000Z \(2026-01-05 09:00 Europe\/Berlin\)/);
  });

  it('a level the schedule does not have has nobody on call', () => {
    assert.equal(whoIsOnCall(primary(), 3, at('2026-02-01T00:00:00Z')), null);
    assert.equal(whoIsOnCall(primary(), 0, at('2026-02-01T00:00:00Z')), null);
  });
});

describe('rotation hand-offs across DST', () => {
  const cases = [
    // zone, first hand-off day, UTC hand-off before the change, UTC hand-off after, the shift across it in hours
    { name: 'Europe/Berlin spring-forward (29 March 2026)', zone: 'Europe/Berlin', start: '2026-03-27T09:00', before: '2026-03-28T08:00:00.000Z', after: '2026-03-29T07:00:00.000Z', hours: 23 },
    { name: 'Europe/Berlin fall-back (25 October 2026)', zone: 'Europe/Berlin', start: '2026-10-23T09:00', before: '2026-10-24T07:00:00.000Z', after: '2026-10-25T08:00:00.000Z', hours: 25 },
    { name: 'America/New_York spring-forward (8 March 2026)', zone: 'America/New_York', start: '2026-03-06T09:00', before: '2026-03-07T14:00:00.000Z', after: '2026-03-08T13:00:00.000Z', hours: 23 },
    { name: 'America/New_York fall-back (1 November 2026)', zone: 'America/New_York', start: '2026-10-30T09:00', before: '2026-10-31T13:00:00.000Z', after: '2026-11-01T14:00:00.000Z', hours: 25 },
  ];
  for (const c of cases) {
    it(`${c.name}: the local hand-off stays 09:00, the UTC one moves, and that day's shift lasts ${c.hours} hours`, () => {
      const s = daily(c.zone, c.start, [ALICE, BOB]);
      const across = who(s, 1, new Date(at(c.after).getTime() - MS));
      assert.deepEqual(across, { user: BOB, start: c.before, end: c.after, via: 'rotation' });
      assert.equal((at(c.after).getTime() - at(c.before).getTime()) / 3_600_000, c.hours);
      assert.equal(local(at(c.before), c.zone).slice(11), '09:00:00');
      assert.equal(local(at(c.after), c.zone).slice(11), '09:00:00');
      assert.equal(who(s, 1, c.after)?.user, ALICE);
      assert.equal(local(whoIsOnCall(s, 1, at(c.after))!.shiftEnd, c.zone).slice(11), '09:00:00');
    });
  }

  it('a weekly rotation across the New York spring-forward is 167 hours long and still hands off at 09:00 local', () => {
    const s: RotationSchedule = { time_zone: 'America/New_York', levels: [{ rotation: 'weekly', start: '2026-03-02T09:00', members: [ALICE, BOB] }], overrides: [] };
    assert.deepEqual(who(s, 1, '2026-03-05T00:00:00Z'), { user: ALICE, start: '2026-03-02T14:00:00.000Z', end: '2026-03-09T13:00:00.000Z', via: 'rotation' });
  });

  it('a hand-off time that does not exist on the spring-forward day happens when the clocks have moved on (02:30 → 03:30 CEST)', () => {
    const s = daily('Europe/Berlin', '2026-03-27T02:30', [ALICE, BOB]);
    const shift = whoIsOnCall(s, 1, at('2026-03-29T00:00:00Z'))!;
    assert.equal(shift.user, BOB);
    assert.equal(shift.shiftEnd.toISOString(), '2026-03-29T01:30:00.000Z');
    assert.equal(local(shift.shiftEnd, 'Europe/Berlin'), '2026-03-29 03:30:00');
    assert.equal(whoIsOnCall(s, 1, shift.shiftEnd)?.user, ALICE);
    assert.equal(local(whoIsOnCall(s, 1, shift.shiftEnd)!.shiftEnd, 'Europe/Berlin'), '2026-03-30 02:30:00');
  });

  it('a hand-off time that happens twice on the fall-back day happens at its first occurrence', () => {
    const s = daily('Europe/Berlin', '2026-10-23T02:30', [ALICE, BOB]);
    const shift = whoIsOnCall(s, 1, at('2026-10-24T12:00:00Z'))!;
    assert.equal(shift.shiftEnd.toISOString(), '2026-10-25T00:30:00.000Z'); // 02:30 CEST, not 02:30 CET
    assert.equal(whoIsOnCall(s, 1, at('2026-10-25T01:15:00Z'))?.user, ALICE, 'the second 02:15 is after the hand-off, though it reads earlier');
    assert.equal(whoIsOnCall(s, 1, at('2026-10-25T01:30:00Z'))?.user, ALICE, 'the second 02:30 is no hand-off');
  });
});

describe('overrides', () => {
  const erinCovers = { level: 1, user: ERIN, start: '2026-03-02T09:00', end: '2026-03-03T09:00' };

  it('an override wins inside its window only, and the rotation resumes after it', () => {
    const s = primary([erinCovers]);
    assert.deepEqual(who(s, 1, '2026-03-02T07:59:59.999Z'), { user: BOB, start: '2026-02-23T08:00:00.000Z', end: '2026-03-02T08:00:00.000Z', via: 'rotation' });
    assert.deepEqual(who(s, 1, '2026-03-02T08:00:00.000Z'), { user: ERIN, start: '2026-03-02T08:00:00.000Z', end: '2026-03-03T08:00:00.000Z', via: 'override' });
    assert.deepEqual(who(s, 1, '2026-03-03T07:59:59.999Z')?.user, ERIN);
    assert.deepEqual(who(s, 1, '2026-03-03T08:00:00.000Z'), { user: ALICE, start: '2026-03-03T08:00:00.000Z', end: '2026-03-09T08:00:00.000Z', via: 'rotation' });
    assert.equal(who(s, 2, '2026-03-02T12:00:00Z')?.user, CAROL, 'an override on level 1 leaves level 2 alone');
  });

  it('an override in the middle of a shift cuts the rotation member\'s shift short', () => {
    const s = primary([{ level: 1, user: BOB, start: '2026-03-04T12:00', end: '2026-03-04T14:00' }]);
    assert.deepEqual(who(s, 1, '2026-03-03T00:00:00Z'), { user: ALICE, start: '2026-03-02T08:00:00.000Z', end: '2026-03-04T11:00:00.000Z', via: 'rotation' });
    assert.deepEqual(who(s, 1, '2026-03-04T13:00:00Z'), { user: ALICE, start: '2026-03-04T13:00:00.000Z', end: '2026-03-09T08:00:00.000Z', via: 'rotation' });
  });

  it('the covered member is not on call during the override and the detail names who is', async () => {
    const check = await source(primary([erinCovers])).check(ALICE, 'primary', [1], at('2026-03-02T12:00:00Z'));
    assert.equal(check.onCall, false);
    assert.equal(check.shiftEndsAt, null);
    assert.match(check.detail, /^alice@example\.com is not on call for primary at level 1 at 2026-03-02T12:00:00\.000Z \(2026-03-02 13:00 Europe\/Berlin\); level 1 is erin@example\.com \(override\) until 2026-03-03T08:00:00\.000Z \(2026-03-03 09:00 Europe\/Berlin\)\.$/);
  });

  it('the person covering is on call via the override until the override ends', async () => {
    const check = await source(primary([erinCovers])).check(ERIN, 'primary', [1], at('2026-03-02T12:00:00Z'));
    assert.deepEqual(check, {
      onCall: true,
      detail: 'erin@example.com is on call for primary (level 1, override) until 2026-03-03T08:00:00.000Z (2026-03-03 09:00 Europe/Berlin).',
      shiftEndsAt: at('2026-03-03T08:00:00.000Z'),
    });
  });

  it('an override before the rotation starts still puts its user on call', () => {
    const s = primary([{ level: 1, user: DAVE, start: '2026-01-01T00:00', end: '2026-01-02T00:00' }]);
    assert.equal(who(s, 1, '2026-01-01T12:00:00Z')?.user, DAVE);
    assert.equal(who(s, 1, '2026-01-03T12:00:00Z'), null);
  });
});

describe('check', () => {
  it('a rotation member on call gets a sentence naming schedule, level, rotation and the end in UTC and local time', async () => {
    const check = await source(primary()).check(ALICE, 'primary', [1], at('2026-01-06T10:00:00Z'));
    assert.deepEqual(check, {
      onCall: true,
      detail: 'alice@example.com is on call for primary (level 1, weekly rotation) until 2026-01-12T08:00:00.000Z (2026-01-12 09:00 Europe/Berlin).',
      shiftEndsAt: at('2026-01-12T08:00:00.000Z'),
    });
  });

  it('emails compare case-insensitively', async () => {
    const s = primary();
    s.levels[0]!.members = ['Alice@Example.com', BOB];
    const check = await source(s).check('ALICE@example.COM', 'primary', [1], at('2026-01-06T10:00:00Z'));
    assert.equal(check.onCall, true);
  });

  it('a user on level 2 is not on call for levels [1] but is for [1, 2]', async () => {
    const src = source(primary());
    const when = at('2026-01-06T10:00:00Z');
    const onlyOne = await src.check(CAROL, 'primary', [1], when);
    assert.equal(onlyOne.onCall, false);
    assert.match(onlyOne.detail, /level 1 is alice@example\.com \(weekly rotation\)/);
    const both = await src.check(CAROL, 'primary', [1, 2], when);
    assert.equal(both.onCall, true);
    assert.match(both.detail, /^carol@example\.com is on call for primary \(level 2, daily rotation\)/);
  });

  it('a level the schedule does not have makes the answer "not on call", not an error', async () => {
    const check = await source(primary()).check(ALICE, 'primary', [3], at('2026-01-06T10:00:00Z'));
    assert.equal(check.onCall, false);
    assert.match(check.detail, /primary has no level 3 \(it has 2\)/);
  });

  it('an unknown schedule is NOT_FOUND', async () => {
    await assert.rejects(source(primary()).check(ALICE, 'secondary', [1], at('2026-01-06T10:00:00Z')), (e: unknown) => {
      assert.ok(e instanceof KeyshiftError);
      assert.equal(e.code, 'NOT_FOUND');
      assert.match(e.message, /"secondary"/);
      return true;
    });
    await assert.rejects(createRotationSource(undefined).check(ALICE, 'primary', [1], new Date()), { code: 'NOT_FOUND' });
    await assert.rejects(source(primary()).check(ALICE, 'toString', [1], new Date()), { code: 'NOT_FOUND' });
  });

  it('a rotation source refuses an invalid config', () => {
    assert.throws(() => createRotationSource(config({ ...primary(), time_zone: 'Mars/Olympus_Mons' })), { code: 'CONFIG_INVALID' });
  });
});

describe('shift ends', () => {
  it('a rotation shift ends at the next hand-off', async () => {
    const check = await source(primary()).check(BOB, 'primary', [1], at('2026-01-12T08:00:00.000Z'));
    assert.equal(check.shiftEndsAt?.toISOString(), '2026-01-19T08:00:00.000Z');
  });

  it('a single-member rotation\'s shift lasts until someone else covers the level', async () => {
    const s = primary([{ level: 2, user: DAVE, start: '2026-01-20T18:00', end: '2026-01-21T09:00' }]);
    const check = await source(s).check(CAROL, 'primary', [2], at('2026-01-06T10:00:00Z'));
    assert.equal(check.shiftEndsAt?.toISOString(), '2026-01-20T17:00:00.000Z');
    assert.match(check.detail, / until 2026-01-20T17:00:00\.000Z \(2026-01-20 18:00 Europe\/Berlin\)\.$/);
    assert.equal(whoIsOnCall(s, 2, at('2026-01-06T10:00:00Z'))?.shiftEnd.toISOString(), '2026-01-07T08:00:00.000Z', 'whoIsOnCall still reports the single shift');
  });

  it('a single-member rotation nobody covers is on call "at least until" the first hand-off a year out', async () => {
    const check = await source(primary()).check(CAROL, 'primary', [2], at('2026-01-06T10:00:00Z'));
    assert.equal(check.shiftEndsAt?.toISOString(), '2027-01-08T08:00:00.000Z');
    assert.match(check.detail, /at least until 2027-01-08T08:00:00\.000Z \(2027-01-08 09:00 Europe\/Berlin\)/);
  });

  it('a user whose override runs straight into their own rotation shift stays on call until that shift ends', async () => {
    const s = primary([{ level: 1, user: BOB, start: '2026-01-10T09:00', end: '2026-01-12T09:00' }]);
    const check = await source(s).check(BOB, 'primary', [1], at('2026-01-11T00:00:00Z'));
    assert.equal(check.shiftEndsAt?.toISOString(), '2026-01-19T08:00:00.000Z');
    assert.match(check.detail, /\(level 1, override\)/);
  });
});

describe('validateOnCallConfig', () => {
  const problems = (s: RotationSchedule) => validateOnCallConfig(config(s));

  it('accepts the documented example', () => {
    assert.deepEqual(problems(primary([{ level: 1, user: ERIN, start: '2026-03-02T09:00', end: '2026-03-03T09:00' }])), []);
  });

  it('rejects overlapping overrides on the same level, naming both', () => {
    const p = problems(primary([
      { level: 1, user: ERIN, start: '2026-03-02T09:00', end: '2026-03-03T09:00' },
      { level: 1, user: DAVE, start: '2026-03-03T08:00', end: '2026-03-04T09:00' },
    ]));
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^oncall\.schedules\.primary\.overrides\.1: overlaps overrides\.0 on level 1 \(dave@example\.com 2026-03-03 08:00–2026-03-04 09:00 vs erin@example\.com 2026-03-02 09:00–2026-03-03 09:00 Europe\/Berlin\)$/);
  });

  it('accepts overrides that touch, or overlap on different levels', () => {
    assert.deepEqual(problems(primary([
      { level: 1, user: ERIN, start: '2026-03-02T09:00', end: '2026-03-03T09:00' },
      { level: 1, user: DAVE, start: '2026-03-03T09:00', end: '2026-03-04T09:00' },
      { level: 2, user: DAVE, start: '2026-03-02T09:00', end: '2026-03-04T09:00' },
    ])), []);
  });

  it('rejects an override that ends at or before its start', () => {
    assert.deepEqual(problems(primary([{ level: 1, user: ERIN, start: '2026-03-02T09:00', end: '2026-03-02T09:00' }])), [
      'oncall.schedules.primary.overrides.0.end: end 2026-03-02T09:00 is not after start 2026-03-02T09:00',
    ]);
  });

  it('rejects an override whose local times a DST gap puts in the wrong order', () => {
    const p = problems(primary([{ level: 1, user: ERIN, start: '2026-03-29T02:30', end: '2026-03-29T03:00' }]));
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^oncall\.schedules\.primary\.overrides\.0\.end: end 2026-03-29T03:00 is not after start 2026-03-29T02:30 \(in Europe\/Berlin, a DST change/);
  });

  it('rejects an override on a level the schedule does not have', () => {
    const p = problems(primary([{ level: 3, user: ERIN, start: '2026-03-02T09:00', end: '2026-03-03T09:00' }]));
    assert.deepEqual(p, ['oncall.schedules.primary.overrides.0.level: level 3 is out of range: schedule primary has 2 levels (1 = first escalation level)']);
    assert.equal(problems(primary([{ level: 0, user: ERIN, start: '2026-03-02T09:00', end: '2026-03-03T09:00' }])).length, 1);
  });

  it('rejects a rotation with no members, and duplicate members regardless of case', () => {
    const s = primary();
    s.levels[0]!.members = [];
    s.levels[1]!.members = [CAROL, DAVE, 'Carol@Example.com'];
    assert.deepEqual(problems(s), [
      'oncall.schedules.primary.levels.0.members: a rotation needs at least one member',
      'oncall.schedules.primary.levels.1.members.2: Carol@Example.com is already listed as members.0 (emails compare case-insensitively)',
    ]);
  });

  it('rejects an unknown time zone', () => {
    const p = problems({ ...primary(), time_zone: 'Europe/Atlantis' });
    assert.equal(p.length, 1);
    assert.match(p[0]!, /^oncall\.schedules\.primary\.time_zone: unknown time zone "Europe\/Atlantis"/);
  });

  it('rejects a start that is not a real local date-time', () => {
    for (const start of ['2026-02-30T09:00', '2026-01-05T24:00', '2026-13-01T09:00', '2026-01-05T09:60']) {
      const s = primary();
      s.levels[0]!.start = start;
      assert.deepEqual(problems(s), [`oncall.schedules.primary.levels.0.start: "${start}" is not a valid local date-time (expected YYYY-MM-DDTHH:MM with a real date and time)`], start);
    }
  });

  it('the schema rejects unknown keys, offsets in local times and unknown rotations', () => {
    const bad = [
      { schedules: { primary: { ...primary(), extra: 1 } } },
      { schedules: { primary: { ...primary(), levels: [{ rotation: 'weekly', start: '2026-01-05T09:00+01:00', members: [ALICE] }] } } },
      { schedules: { primary: { ...primary(), levels: [{ rotation: 'hourly', start: '2026-01-05T09:00', members: [ALICE] }] } } },
      { schedules: { Primary: primary() } },
    ];
    for (const cfg of bad) assert.equal(OnCallConfigSchema.safeParse(cfg).success, false, JSON.stringify(cfg));
  });
});

describe('properties', () => {
  const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'America/Sao_Paulo', 'Asia/Kolkata', 'UTC'];
  const pad = (n: number) => String(n).padStart(2, '0');
  const people = ['p0@example.com', 'p1@example.com', 'p2@example.com', 'p3@example.com'];
  const levelArb = fc.record({
    rotation: fc.constantFrom('weekly' as const, 'daily' as const),
    // Dates up to the 28th exist every month; hours include the usual DST gap/overlap hours.
    start: fc.tuple(fc.integer({ min: 2012, max: 2027 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }), fc.integer({ min: 0, max: 23 }), fc.constantFrom(0, 30))
      .map(([y, mo, d, h, mi]) => `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}`),
    members: fc.integer({ min: 1, max: 4 }).map((n) => people.slice(0, n)),
  });
  const scheduleArb = fc.record({ time_zone: fc.constantFrom(...zones), levels: fc.array(levelArb, { minLength: 1, maxLength: 2 }), overrides: fc.constant<RotationOverride[]>([]) });
  const instantArb = fc.integer({ min: Date.UTC(2011, 0, 1), max: Date.UTC(2031, 0, 1) }).map((t) => new Date(t));

  it('after a level starts exactly one member is on call, holds the level until shiftEnd, and hands to the next member at shiftEnd', async () => {
    await fc.assert(
      fc.asyncProperty(scheduleArb, instantArb, async (schedule: RotationSchedule, when) => {
        assert.deepEqual(validateOnCallConfig(config(schedule)), []);
        const src = source(schedule);
        for (const [i, level] of schedule.levels.entries()) {
          const shift = whoIsOnCall(schedule, i + 1, when);
          const onCall = [];
          for (const p of level.members) if ((await src.check(p, 'primary', [i + 1], when)).onCall) onCall.push(p);
          if (!shift) {
            assert.deepEqual(onCall, []);
            // Before the start's local reading (plus up to an hour, when DST skipped the start time).
            const localWhen = Date.parse(`${local(when, schedule.time_zone).replace(' ', 'T')}Z`);
            assert.ok(localWhen < Date.parse(`${level.start}Z`) + 3_600_000, 'nobody is on call only before the start');
            continue;
          }
          assert.deepEqual(onCall, [shift.user], 'exactly one member is on call');
          assert.ok(shift.shiftStart <= when && when < shift.shiftEnd);
          const last = whoIsOnCall(schedule, i + 1, new Date(shift.shiftEnd.getTime() - 1))!;
          assert.equal(last.user, shift.user);
          assert.equal(last.shiftEnd.getTime(), shift.shiftEnd.getTime());
          const next = whoIsOnCall(schedule, i + 1, shift.shiftEnd)!;
          const index = level.members.indexOf(shift.user);
          assert.equal(next.user, level.members[(index + 1) % level.members.length]);
          assert.equal(next.shiftStart.getTime(), shift.shiftEnd.getTime());
          // The local hand-off time is the start's, unless DST skipped it that day.
          const handOffLocal = local(shift.shiftEnd, schedule.time_zone).slice(11, 16);
          if (handOffLocal !== level.start.slice(11)) {
            const before = local(new Date(shift.shiftEnd.getTime() - 1), schedule.time_zone).slice(11, 16);
            assert.ok(before < level.start.slice(11) && handOffLocal > level.start.slice(11), `hand-off at ${handOffLocal} instead of ${level.start.slice(11)} only across a gap`);
          }
          const hours = (shift.shiftEnd.getTime() - shift.shiftStart.getTime()) / 3_600_000;
          const expected = level.rotation === 'weekly' ? 168 : 24;
          assert.ok(Math.abs(hours - expected) <= 1, `a ${level.rotation} shift lasts ${hours}h`);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('with random non-overlapping overrides, whoever is on call holds the level until shiftEnd, and exactly one person is on call', async () => {
    const overridesArb = fc.array(
      fc.record({ gapHours: fc.integer({ min: 0, max: 200 }), lengthHours: fc.integer({ min: 1, max: 100 }), user: fc.constantFrom(...people, 'cover@example.com') }),
      { maxLength: 5 },
    ).map((specs) => {
      let t = Date.UTC(2026, 0, 1, 0, 0);
      return specs.map((o) => {
        const start = t + o.gapHours * 3_600_000;
        t = start + o.lengthHours * 3_600_000;
        return { level: 1, user: o.user, start: new Date(start).toISOString().slice(0, 16), end: new Date(t).toISOString().slice(0, 16) };
      });
    });
    const instant = fc.integer({ min: Date.UTC(2025, 11, 1), max: Date.UTC(2026, 2, 1) }).map((t) => new Date(t));
    await fc.assert(
      fc.asyncProperty(levelArb, fc.constantFrom(...zones), overridesArb, instant, async (level, zone, overrides, when) => {
        const schedule: RotationSchedule = { time_zone: zone, levels: [{ ...level, start: '2026-01-01T09:00' }], overrides };
        // Local override times can collide across a fall-back overlap; such configs are rejected, not guessed at.
        fc.pre(validateOnCallConfig(config(schedule)).length === 0);
        const src = source(schedule);
        const shift = whoIsOnCall(schedule, 1, when);
        const everyone = [...new Set([...level.members, ...overrides.map((o) => o.user)])];
        const onCall = [];
        for (const p of everyone) {
          const check = await src.check(p, 'primary', [1], when);
          if (check.onCall) {
            onCall.push(p);
            assert.ok(check.shiftEndsAt && check.shiftEndsAt >= shift!.shiftEnd, 'a check never ends the shift before whoIsOnCall does');
          } else assert.equal(check.shiftEndsAt, null);
        }
        if (!shift) return assert.deepEqual(onCall, []);
        assert.deepEqual(onCall, [shift.user]);
        assert.ok(shift.shiftStart <= when && when < shift.shiftEnd);
        const last = whoIsOnCall(schedule, 1, new Date(shift.shiftEnd.getTime() - 1))!;
        assert.deepEqual(last, shift);
        const next = whoIsOnCall(schedule, 1, shift.shiftEnd);
        if (next) assert.equal(next.shiftStart.getTime(), shift.shiftEnd.getTime());
      }),
      { numRuns: 150 },
    );
  });
});
